"""Bundles, typed: search pages (:class:`Page`), transaction/batch requests (:class:`Transaction`)
and their responses (:class:`BundleResponse`).

Pages keep the decoded JSON and type each entry with :func:`clinikfhir.models.parse` on first
access, so a 100-entry page costs one JSON decode until entries are touched. Nothing here does I/O;
following ``next`` links is the client's job (``clinik.pages(page)``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from clinikfhir._meta import ResponseMeta
from clinikfhir.errors import InvalidArgumentError, InvalidResponseError

if TYPE_CHECKING:
    from fhir.resources.R4B.resource import Resource

__all__ = ["BundleResponse", "EntryResponse", "Page", "Transaction", "to_model"]

R = TypeVar("R", bound="Resource")
M = TypeVar("M", bound="Resource")

_OPEN_TYPES = frozenset({"Resource", "DomainResource"})
_TYPE_NAMES: dict[type[Any], str] = {}


def type_name(model: type[Resource]) -> str:
    """The FHIR type name a model class stands for (``"Resource"`` for the open base classes)."""
    name = _TYPE_NAMES.get(model)
    if name is None:
        from clinikfhir.models import GenericResource

        name = "Resource" if model is GenericResource else str(model.get_resource_type())
        _TYPE_NAMES[model] = name
    return name


def to_model(data: Any, model: type[M], *, strict: bool = False, where: str = "response", request_id: str = "") -> M:
    """Type decoded JSON as ``model``; anything else becomes :class:`InvalidResponseError`.

    ``model`` may be a concrete class (``Patient``: the ``resourceType`` must match) or an open base
    (``Resource``: any type). Never lets a ``KeyError`` or pydantic ``ValidationError`` escape.
    """
    from clinikfhir.models import ModelParseError, parse

    if not isinstance(data, dict):
        raise InvalidResponseError(f"{where}: expected a JSON object, got {type(data).__name__}", request_id=request_id)
    body = cast("dict[str, Any]", data)
    rtype = body.get("resourceType")
    expected = type_name(model)
    if not isinstance(rtype, str):
        raise InvalidResponseError(f"{where}: the JSON object has no resourceType", request_id=request_id)
    if expected not in _OPEN_TYPES and rtype != expected:
        raise InvalidResponseError(f"{where}: expected a {expected}, got a {rtype}", request_id=request_id)
    try:
        obj = parse(body, strict=strict)
    except ModelParseError as exc:
        raise InvalidResponseError(
            f"{where}: the {rtype} does not match the R4 model: {exc}", request_id=request_id, problems=exc.problems
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise InvalidResponseError(
            f"{where}: the {rtype} could not be read ({type(exc).__name__})", request_id=request_id
        ) from None
    if not isinstance(obj, model):
        raise InvalidResponseError(
            f"{where}: expected {model.__name__}, got {type(obj).__name__}", request_id=request_id
        )
    return obj


def _entries(bundle: dict[str, Any], request_id: str) -> list[dict[str, Any]]:
    if bundle.get("resourceType") != "Bundle":
        raise InvalidResponseError("expected a Bundle", request_id=request_id)
    raw = bundle.get("entry", [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in cast("list[object]", raw)):
        raise InvalidResponseError("Bundle.entry is not a list of objects", request_id=request_id)
    return cast("list[dict[str, Any]]", raw)


def _mode(entry: dict[str, Any]) -> str:
    search = entry.get("search")
    if isinstance(search, dict):
        mode = cast("dict[str, Any]", search).get("mode")
        if isinstance(mode, str):
            return mode
    return "match"


class Page(Generic[R]):
    """One page of a search (or history, or ``$everything``) result, typed as ``R``.

    ``resources`` (the matches, each typed on first access), ``included(Model)`` (``_include`` /
    ``_revinclude`` hits of that type), ``total``, ``links`` (relation -> URL), ``next_url`` and
    ``meta`` (the response metadata). Iterating a page iterates its resources.
    """

    __slots__ = ("_entries", "_matches", "_typed", "bundle", "meta", "model", "posted_type", "strict")

    def __init__(
        self,
        model: type[R],
        bundle: dict[str, Any],
        meta: ResponseMeta,
        *,
        strict: bool = False,
        posted_type: str | None = None,
    ) -> None:
        self.model = model
        self.bundle = bundle  #: the decoded Bundle JSON, as received
        self.meta = meta
        self.strict = strict
        #: the searched type when the search was sent as ``POST [type]/_search`` (next pages are POSTed too)
        self.posted_type = posted_type
        self._entries = _entries(bundle, meta.request_id)
        self._matches = [i for i, e in enumerate(self._entries) if _mode(e) == "match" and "resource" in e]
        self._typed: dict[int, Resource] = {}

    def _at(self, index: int, model: type[M]) -> M:
        hit = self._typed.get(index)
        if hit is None:
            hit = to_model(
                self._entries[index]["resource"],
                model,
                strict=self.strict,
                where=f"Bundle.entry[{index}].resource",
                request_id=self.meta.request_id,
            )
            self._typed[index] = hit
        elif not isinstance(hit, model):
            raise InvalidResponseError(f"Bundle.entry[{index}] is a {type(hit).__name__}, not a {model.__name__}")
        return hit

    @property
    def resources(self) -> list[R]:
        """The matching resources, typed (raises :class:`InvalidResponseError` if an entry is not an ``R``)."""
        return [self._at(i, self.model) for i in self._matches]

    def __iter__(self) -> Iterator[R]:
        for i in self._matches:
            yield self._at(i, self.model)

    def __len__(self) -> int:
        return len(self._matches)

    def __getitem__(self, index: int) -> R:
        return self._at(self._matches[index], self.model)

    def included(self, model: type[M]) -> list[M]:
        """Resources of type ``model`` that came with the page through ``_include``/``_revinclude``."""
        name = type_name(model)
        return [
            self._at(i, model)
            for i, e in enumerate(self._entries)
            if _mode(e) == "include"
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == name
        ]

    def of_type(self, model: type[M]) -> list[M]:
        """Every resource of type ``model`` in the page, whatever its search mode (useful for ``$everything``)."""
        name = type_name(model)
        return [
            self._at(i, model)
            for i, e in enumerate(self._entries)
            if isinstance(e.get("resource"), dict)
            and (name in _OPEN_TYPES or e["resource"].get("resourceType") == name)
        ]

    @property
    def total(self) -> int | None:
        """``Bundle.total`` when the server sent it."""
        total = self.bundle.get("total")
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    @property
    def type(self) -> str:
        """``Bundle.type`` (``searchset``, ``history``...)."""
        return str(self.bundle.get("type", ""))

    @property
    def links(self) -> dict[str, str]:
        """``Bundle.link`` as relation -> URL."""
        out: dict[str, str] = {}
        links = self.bundle.get("link")
        if isinstance(links, list):
            for link in cast("list[object]", links):
                if isinstance(link, dict):
                    rel, url = cast("dict[str, Any]", link).get("relation"), cast("dict[str, Any]", link).get("url")
                    if isinstance(rel, str) and isinstance(url, str):
                        out.setdefault(rel, url)
        return out

    @property
    def next_url(self) -> str | None:
        """The ``next`` link, or None on the last page."""
        return self.links.get("next")

    def __repr__(self) -> str:
        return f"Page[{self.model.__name__}](matches={len(self)}, total={self.total}, next={self.next_url is not None})"


# ------------------------------------------------------------------------------ transaction / batch


@dataclass(frozen=True, slots=True)
class _TxEntry:
    method: str
    url: str
    resource: Resource | None
    full_url: str | None
    if_match: str | None
    if_none_exist: str | None


class Transaction:
    """A transaction (all or nothing) or batch (independent entries) to send with
    ``clinik.transaction(tx)`` / ``clinik.batch(tx)``.

    >>> from clinikfhir.models import Patient, Observation
    >>> tx = Transaction()
    >>> ref = tx.create(Patient(gender="female"))        # 'urn:uuid:...', usable as a Reference
    >>> ref.startswith("urn:uuid:")
    True

    New resources get ``urn:uuid`` full URLs, which the server rewrites into the ids it assigns, so
    an Observation can reference a Patient created in the same transaction.
    """

    def __init__(self) -> None:
        self._entries: list[_TxEntry] = []

    def create(self, resource: Resource, *, if_none_exist: str | None = None) -> str:
        """Add a create; return its ``urn:uuid:`` reference for use in other entries."""
        from clinikfhir._core import check_id_like_query

        ref = f"urn:uuid:{uuid.uuid4()}"
        if if_none_exist is not None:
            check_id_like_query(if_none_exist)
        self._entries.append(_TxEntry("POST", type_name(type(resource)), resource, ref, None, if_none_exist))
        return ref

    def update(self, resource: Resource, *, if_match: str | bool = True) -> None:
        """Add an update (PUT) of ``resource`` by its id; ``If-Match`` from ``meta.versionId`` by default."""
        from clinikfhir._core import check_id, etag_for

        rid = check_id(resource.id)
        etag = etag_for(resource, if_match)
        name = type_name(type(resource))
        self._entries.append(_TxEntry("PUT", f"{name}/{rid}", resource, None, etag, None))

    def delete(self, model: type[Resource], id: str) -> None:
        """Add a delete of ``model`` ``id``."""
        from clinikfhir._core import check_id

        self._entries.append(_TxEntry("DELETE", f"{type_name(model)}/{check_id(id)}", None, None, None, None))

    def read(self, model: type[Resource], id: str) -> None:
        """Add a read of ``model`` ``id`` (useful in batches)."""
        from clinikfhir._core import check_id

        self._entries.append(_TxEntry("GET", f"{type_name(model)}/{check_id(id)}", None, None, None, None))

    @property
    def refs(self) -> list[str | None]:
        """The ``urn:uuid`` reference of each entry (None for entries that create nothing)."""
        return [e.full_url for e in self._entries]

    @property
    def resources(self) -> list[Resource]:
        """The resources this transaction writes (for local validation)."""
        return [e.resource for e in self._entries if e.resource is not None]

    @property
    def indexed_resources(self) -> list[tuple[int, str, Resource]]:
        """``(entry index, method, resource)`` for every entry that writes a resource (issue paths name the entry)."""
        return [(i, e.method, e.resource) for i, e in enumerate(self._entries) if e.resource is not None]

    def __len__(self) -> int:
        return len(self._entries)

    def to_json(self, kind: Literal["transaction", "batch"]) -> dict[str, Any]:
        """The request Bundle as JSON."""
        from clinikfhir._core import resource_json

        if not self._entries:
            raise InvalidArgumentError(f"an empty {kind} has nothing to send")
        entries: list[dict[str, Any]] = []
        for e in self._entries:
            entry: dict[str, Any] = {}
            if e.full_url:
                entry["fullUrl"] = e.full_url
            if e.resource is not None:
                entry["resource"] = resource_json(e.resource)
            request: dict[str, Any] = {"method": e.method, "url": e.url}
            if e.if_match:
                request["ifMatch"] = e.if_match
            if e.if_none_exist:
                request["ifNoneExist"] = e.if_none_exist
            entry["request"] = request
            entries.append(entry)
        return {"resourceType": "Bundle", "type": kind, "entry": entries}

    @classmethod
    def of(cls, resources: Sequence[Resource]) -> Transaction:
        """Creates for resources without an id, updates for those with one."""
        tx = cls()
        for r in resources:
            if r.id:
                tx.update(r)
            else:
                tx.create(r)
        return tx


@dataclass(frozen=True)
class EntryResponse:
    """One entry of a transaction/batch response: ``status`` (e.g. ``"201 Created"``), ``status_code``,
    ``location``, ``etag``, ``last_modified`` and the returned resource (if any) as JSON."""

    status: str
    location: str | None
    etag: str | None
    last_modified: str | None
    resource_json: dict[str, Any] | None
    outcome_json: dict[str, Any] | None

    @property
    def status_code(self) -> int:
        """The numeric status (``201`` from ``"201 Created"``), 0 if unreadable."""
        head = self.status.split(" ", 1)[0]
        return int(head) if head.isdigit() else 0

    @property
    def ok(self) -> bool:
        """True for a 2xx entry."""
        return 200 <= self.status_code < 300


class BundleResponse:
    """The response to a transaction or batch: one :class:`EntryResponse` per request entry, in order.

    ``resource(i, Patient)`` types the resource returned for entry ``i``; ``resource(ref, Patient)``
    does the same for the entry created under the ``urn:uuid`` reference ``ref``.
    """

    def __init__(
        self, bundle: dict[str, Any], meta: ResponseMeta, refs: Sequence[str | None], *, strict: bool = False
    ) -> None:
        self.bundle = bundle
        self.meta = meta
        self.strict = strict
        raw = _entries(bundle, meta.request_id)
        self.entries: list[EntryResponse] = []
        for i, e in enumerate(raw):
            resp = e.get("response")
            if not isinstance(resp, dict):
                raise InvalidResponseError(f"Bundle.entry[{i}].response is missing", request_id=meta.request_id)
            r = cast("dict[str, Any]", resp)
            status = r.get("status")
            if not isinstance(status, str):
                raise InvalidResponseError(f"Bundle.entry[{i}].response.status is missing", request_id=meta.request_id)
            res = e.get("resource")
            outcome = r.get("outcome")
            self.entries.append(
                EntryResponse(
                    status=status,
                    location=r.get("location") if isinstance(r.get("location"), str) else None,
                    etag=r.get("etag") if isinstance(r.get("etag"), str) else None,
                    last_modified=r.get("lastModified") if isinstance(r.get("lastModified"), str) else None,
                    resource_json=cast("dict[str, Any]", res) if isinstance(res, dict) else None,
                    outcome_json=cast("dict[str, Any]", outcome) if isinstance(outcome, dict) else None,
                )
            )
        self._refs = {ref: i for i, ref in enumerate(refs) if ref}

    def resource(self, which: int | str, model: type[M]) -> M:
        """The resource returned for entry ``which`` (an index or a ``urn:uuid`` reference), typed."""
        index = self._refs.get(which) if isinstance(which, str) else which
        if index is None or not 0 <= index < len(self.entries):
            raise InvalidArgumentError("no such entry in this response")
        data = self.entries[index].resource_json
        if data is None:
            raise InvalidResponseError(f"Bundle.entry[{index}] returned no resource", request_id=self.meta.request_id)
        if type_name(model) not in _OPEN_TYPES and data.get("resourceType") != type_name(model):
            raise InvalidArgumentError(
                f"Bundle.entry[{index}] holds a {data.get('resourceType')}, not a {model.__name__}"
            )
        return to_model(
            data, model, strict=self.strict, where=f"Bundle.entry[{index}].resource", request_id=self.meta.request_id
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[EntryResponse]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"BundleResponse(entries={len(self.entries)}, type={self.bundle.get('type')!r})"
