"""References, typed: :func:`ref` builds one from a resource; :func:`parse_reference` reads one.

>>> from clinikfhir.models import Patient, HumanName
>>> r = ref(Patient(id="p1", name=[HumanName(given=["Ann"], family="Lee")]))
>>> (r.reference, r.display)
('Patient/p1', 'Ann Lee')

Reading a reference (``clinik.resolve(obs.subject, Patient)``, ``page.resolve(obs.subject, Patient)``)
starts from :func:`parse_reference`, which says what kind of reference it is: relative
(``Patient/p1``, optionally ``/_history/2``), absolute (a URL; on the client's configured FHIR base
it is read like a relative one, anywhere else it is refused so the key never travels), contained
(``#id``, found in the resource that contains it) or ``urn:uuid:`` (a transaction's placeholder,
found in that transaction's response). Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from clinikfhir._public import shown_as_root
from clinikfhir.errors import InvalidArgumentError, InvalidResponseError

if TYPE_CHECKING:
    from clinikfhir.bundle import BundleResponse
    from clinikfhir.models import Reference, Resource
    from clinikfhir.models import Reference as TypedReference  # the typed stub: what model fields hold

__all__ = ["ParsedReference", "contained", "display_of", "parse_reference", "ref", "resolve_locally"]

M = TypeVar("M", bound="Resource")

_UNSET: Any = object()
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RELATIVE = re.compile(
    r"(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?"
)
_URN = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Resource types whose ``name`` is a list of HumanName, and those whose ``name`` is a plain string.
_HUMAN_NAMED = frozenset({"Patient", "Practitioner", "RelatedPerson", "Person"})
_NAMED = frozenset(
    {"Organization", "Location", "HealthcareService", "Group", "InsurancePlan", "Endpoint", "CareTeam", "Medication"}
)


def _type_of(resource: Resource) -> str:
    getter = getattr(resource, "get_resource_type", None)
    name = getter() if callable(getter) else getattr(resource, "resource_type", None)
    if not isinstance(name, str):
        raise InvalidArgumentError("ref(): expected a FHIR resource model")
    return name


def display_of(resource: Resource) -> str | None:
    """A human-readable label for ``resource``: a person's name (``text``, else given + family), the
    ``name`` of an Organization, Location..., or None when there is none to take."""
    rtype = _type_of(resource)
    name: Any = getattr(resource, "name", None)
    if rtype in _HUMAN_NAMED and isinstance(name, list) and name:
        names: list[object] = name  # pyright: ignore[reportUnknownVariableType]
        first = next((n for n in names if getattr(n, "use", None) == "official"), names[0])
        text = getattr(first, "text", None)
        if isinstance(text, str) and text.strip():
            return text.strip()
        given_list: list[object] = getattr(first, "given", None) or []
        given = [g for g in given_list if isinstance(g, str)]
        family = getattr(first, "family", None)
        parts = [*given, *([family] if isinstance(family, str) else [])]
        return " ".join(parts) or None
    if rtype in _NAMED and isinstance(name, str) and name:
        return name
    return None


def ref(resource: Resource, *, display: str | None = _UNSET) -> TypedReference:
    """A ``Reference`` to a stored resource: ``Patient/p1``, with ``display`` taken from its name
    (people: the official or first HumanName; Organization, Location...: ``name``).

    ``display="..."`` sets it, ``display=None`` leaves it out. The resource needs an ``id`` (it was
    read or created); to point at a resource created in the same transaction use the
    ``urn:uuid`` reference that ``Transaction.create`` returns.
    """
    from clinikfhir.models import Reference

    rtype = _type_of(resource)
    rid = getattr(resource, "id", None)
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        raise InvalidArgumentError(
            f"ref(): the {rtype} has no id yet; create it first, or in a Transaction use the "
            "urn:uuid reference tx.create(...) returns"
        )
    label = display_of(resource) if display is _UNSET else display
    if label is not None and not isinstance(label, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidArgumentError("ref(): display is a string or None")
    return Reference(reference=f"{rtype}/{rid}", display=label)


@dataclass(frozen=True)
class ParsedReference:
    """What a reference names. ``kind`` is ``relative`` (``type``/``id``/``version``), ``contained``
    (``id`` is the local id without ``#``), ``urn`` (``value`` is the ``urn:uuid:...``) or
    ``absolute`` (``value`` is the URL; ``type``/``id`` filled when it has the ``Type/id`` shape)."""

    kind: Literal["relative", "contained", "urn", "absolute"]
    value: str
    type: str | None = None
    id: str | None = None
    version: str | None = None


def _text(reference: Reference | str) -> str:
    if isinstance(reference, str):
        text = reference
    else:
        value = getattr(reference, "reference", None)
        if not isinstance(value, str) or not value:
            raise InvalidArgumentError(
                "the Reference has no 'reference' element (an identifier-only or display-only reference "
                "names no resource to read)"
            )
        text = value
    return text.strip()


def parse_reference(reference: Reference | str, *, fhir_base: str | None = None) -> ParsedReference:
    """Read ``reference`` (a ``Reference`` or its ``reference`` string).

    An absolute URL under ``fhir_base`` (the client's ``.../v1/fhir``) becomes relative. Raises
    :class:`~clinikfhir.errors.InvalidArgumentError` for anything else malformed (the text is not echoed).
    """
    text = _text(reference)
    if text.startswith("#"):
        local = text[1:]
        if not _ID.fullmatch(local):
            raise InvalidArgumentError("a contained reference is '#' followed by the contained resource's id")
        return ParsedReference("contained", text, id=local)
    if text.startswith("urn:uuid:"):
        if not _URN.fullmatch(text):
            raise InvalidArgumentError("a urn:uuid reference must be urn:uuid: followed by a UUID")
        return ParsedReference("urn", text)
    if "://" in text:
        base = (fhir_base or "").rstrip("/") + "/"
        if fhir_base and text.startswith(base):
            inner = parse_reference(text[len(base) :])
            if inner.kind == "relative":
                return inner
        tail = _RELATIVE.search(text)
        return ParsedReference(
            "absolute",
            text,
            type=tail.group("type") if tail else None,
            id=tail.group("id") if tail else None,
            version=tail.group("vid") if tail else None,
        )
    match = _RELATIVE.fullmatch(text)
    if match is None:
        raise InvalidArgumentError(
            "not a readable reference: expected Type/id, Type/id/_history/vid, #contained-id, urn:uuid:... or a URL"
        )
    return ParsedReference("relative", text, type=match.group("type"), id=match.group("id"), version=match.group("vid"))


def check_target(parsed: ParsedReference, model: type[Resource]) -> None:
    """Refuse a reference whose type is not ``model``'s (``resolve(obs.subject, Practitioner)`` on a Patient)."""
    from clinikfhir.bundle import type_name

    expected = type_name(model)
    if parsed.type is not None and expected != "Resource" and parsed.type != expected:
        raise InvalidArgumentError(f"the reference points at a {parsed.type}, not a {expected}")


def contained(container: Resource, reference: Reference | str, model: type[M]) -> M:
    """The contained resource a ``#id`` reference names inside ``container``, typed as ``model``.

    Raises :class:`~clinikfhir.errors.InvalidArgumentError` when the reference is not ``#id`` or the
    container has no such contained resource, and :class:`~clinikfhir.errors.InvalidResponseError`
    when it is there but not a ``model``.
    """
    from clinikfhir.bundle import type_name

    parsed = parse_reference(reference)
    if parsed.kind != "contained" or parsed.id is None:
        raise InvalidArgumentError("contained(): expected a '#id' reference")
    for index, item in enumerate(cast("list[Resource]", getattr(container, "contained", None) or [])):
        if getattr(item, "id", None) == parsed.id:
            if not isinstance(item, model):
                raise InvalidResponseError(
                    f"{_type_of(container)}.contained[{index}] is a {_type_of(item)}, not a {type_name(model)}"
                )
            return item
    raise InvalidArgumentError(f"the {_type_of(container)} has no contained resource with that id")


def resolve_locally(
    reference: Reference | str,
    model: type[M],
    *,
    fhir_base: str,
    container: Resource | None = None,
    within: BundleResponse | None = None,
) -> tuple[M | None, ParsedReference]:
    """The first half of ``clinik.resolve``: a contained or ``urn:uuid`` target found without I/O, or
    (None, the ``Type/id`` to read). Absolute URLs off ``fhir_base`` are refused: the client sends its
    key only to its configured base."""
    parsed = parse_reference(reference, fhir_base=fhir_base)
    check_target(parsed, model)
    if parsed.kind == "contained":
        if container is None:
            raise InvalidArgumentError(
                "a '#id' reference names a contained resource: pass container=<the resource holding it>"
            )
        return contained(container, parsed.value, model), parsed
    if parsed.kind == "urn":
        if within is None:
            raise InvalidArgumentError(
                "a urn:uuid reference only means something inside its transaction: pass within=<the BundleResponse>"
            )
        return within.resource(parsed.value, model), parsed
    if parsed.kind == "absolute":
        raise InvalidArgumentError(
            "the reference is an absolute URL outside the configured FHIR base; it is not read "
            "(the API key is sent only to the configured base)"
        )
    return None, parsed


shown_as_root(ref)  # shown as clinikfhir.ref, its public name
