"""Bundles, typed: search pages (:class:`Page`), transaction/batch requests (:class:`Transaction`)
and their responses (:class:`BundleResponse`).

Pages keep the decoded JSON and type each entry with :func:`clinikfhir.models.parse` on first
access, so a 100-entry page costs one JSON decode until entries are touched. Nothing here does I/O;
following ``next`` links is the client's job (``clinik.pages(page)``).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from clinikfhir._checks import check_id, check_id_like_query, etag_for, resource_json
from clinikfhir._meta import ResponseMeta
from clinikfhir._public import shown_as_root
from clinikfhir.errors import InvalidArgumentError, InvalidResponseError

if TYPE_CHECKING:
    from clinikfhir.models import Reference, Resource
    from clinikfhir.patch import JsonPatch

__all__ = ["BundleResponse", "EntryResponse", "Page", "PartialPage", "PreferReturn", "Transaction", "to_model"]

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


class _PageBase(Generic[R]):
    """What :class:`Page` and :class:`PartialPage` share: reading a searchset Bundle lazily."""

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
        """Resources of type ``model`` that came with the page through ``_include``/``_revinclude``
        (search mode ``include``), never the matches themselves. Every resource of a type whatever
        its mode (e.g. in ``$everything``) is :meth:`of_type`."""
        name = type_name(model)
        return [
            self._at(i, model)
            for i, e in enumerate(self._entries)
            if _mode(e) == "include"
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == name
        ]

    def of_type(self, model: type[M]) -> list[M]:
        """Every resource of type ``model`` in the page, matches and included alike (for ``$everything``,
        whose entries are all matches). Only what ``_include`` brought is :meth:`included`."""
        name = type_name(model)
        return [
            self._at(i, model)
            for i, e in enumerate(self._entries)
            if isinstance(e.get("resource"), dict)
            and (name in _OPEN_TYPES or e["resource"].get("resourceType") == name)
        ]

    def resolve(self, reference: Reference | str | None, model: type[M]) -> M | None:
        """The resource ``reference`` points at, if this page holds it (typically brought by
        ``_include``), typed as ``model``; None when the page does not hold it. No request is made.

        ``for obs in page: patient = page.resolve(obs.subject, Patient)``. Relative (``Patient/1``)
        and absolute references match an entry by its ``fullUrl`` or its type and id.
        """
        from clinikfhir.refs import check_target, parse_reference

        if reference is None:
            return None
        parsed = parse_reference(reference)
        check_target(parsed, model)
        index = self._index().get(parsed.value) if parsed.kind in ("absolute", "urn") else None
        if index is None and parsed.type is not None and parsed.id is not None:
            index = self._index().get(f"{parsed.type}/{parsed.id}")
        return None if index is None else self._at(index, model)

    def joined(self, link: Callable[[R], Reference | None], model: type[M]) -> list[tuple[R, M | None]]:
        """Each match with the resource it points at through ``link``, from this page's included
        resources (no request): ``for obs, patient in page.joined(lambda o: o.subject, Patient)``.
        The second item is None when the page does not hold the target (not included, or no reference)."""
        return [(match, self.resolve(link(match), model)) for match in self]

    def _index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, entry in enumerate(self._entries):
            body = entry.get("resource")
            if not isinstance(body, dict):
                continue
            resource = cast("dict[str, Any]", body)
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                index.setdefault(full_url, i)
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                index.setdefault(f"{rtype}/{rid}", i)
        return index

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
        name = type(self).__name__
        return (
            f"{name}[{self.model.__name__}](matches={len(self)}, total={self.total}, next={self.next_url is not None})"
        )


class Page(_PageBase[R]):
    """One page of a search (or history, or ``$everything``) result, typed as ``R``.

    ``resources`` (the matches, each typed on first access), ``included(Model)`` (``_include`` /
    ``_revinclude`` hits of that type), ``resolve(ref, Model)`` / ``joined(link, Model)`` (matches
    joined to what was included, without another request), ``total``, ``links`` (relation -> URL),
    ``next_url`` and ``meta`` (the response metadata). Iterating a page iterates its resources.
    """

    __slots__ = ()


class PartialPage(_PageBase[R]):
    """A page of a search with ``_elements`` or ``_summary``: its resources may lack required elements.

    It reads like a :class:`Page` but is not one, so a partial answer cannot flow into code typed
    for whole resources (``def show(page: Page[Patient])``) without a type error. Made by
    ``query.elements(...)`` / ``query.summary(...)`` (see :class:`~clinikfhir.search.PartialQuery`).
    """

    __slots__ = ()

    @staticmethod
    def of(page: _PageBase[M]) -> PartialPage[M]:
        """The same page, typed as partial (no copy of the JSON)."""
        new: PartialPage[M] = PartialPage.__new__(PartialPage)  # pyright: ignore[reportUnknownVariableType]
        new.model = page.model
        new.bundle = page.bundle
        new.meta = page.meta
        new.strict = page.strict
        new.posted_type = page.posted_type
        new._entries = page._entries  # pyright: ignore[reportPrivateUsage]
        new._matches = page._matches  # pyright: ignore[reportPrivateUsage]
        new._typed = page._typed  # pyright: ignore[reportPrivateUsage]
        return new


def single(page: _PageBase[M], what: str) -> M:
    """The only match of ``page`` (asked for with ``_count=2``): :class:`~clinikfhir.errors.NoMatchError`
    when there is none, :class:`~clinikfhir.errors.MultipleMatchesError` when there are several.
    ``what`` names the call in the message (``"one()"``)."""
    from clinikfhir.errors import MultipleMatchesError, NoMatchError

    resources = page.resources
    rtype = type_name(page.model)
    if not resources:
        raise NoMatchError(f"{what}: no {rtype} matches the search")
    if len(resources) > 1 or page.next_url is not None:
        raise MultipleMatchesError(f"{what}: more than one {rtype} matches the search")
    return resources[0]


# ------------------------------------------------------------------------------ transaction / batch


@dataclass(frozen=True, slots=True)
class _TxEntry:
    method: str
    url: str
    resource: Resource | None
    full_url: str | None
    if_match: str | None
    if_none_exist: str | None
    patch: JsonPatch[Any] | None = None


def criteria(match: Any, resource_type: str, where: str) -> str:
    """The search criteria of a conditional write as a query string, from a typed query (its type must
    be ``resource_type``) or a raw string (``"identifier=http://x|1"``). Empty criteria are refused: a
    conditional delete or update without them would address every resource of the type."""
    if isinstance(match, str):
        text = match.lstrip("?")
        if not text:
            raise InvalidArgumentError(f"{where}: empty search criteria")
        return check_id_like_query(text)
    query = getattr(match, "query", match)  # a PartialQuery carries its query
    render = getattr(query, "query_string", None)
    qtype = getattr(query, "resource_type", None)
    if not callable(render) or not isinstance(qtype, str):
        raise InvalidArgumentError(f"{where}: pass a query (clinik.search(Patient).identifier(...)) or a string")
    if qtype != resource_type:
        raise InvalidArgumentError(f"{where}: a search on {qtype} cannot select a {resource_type}")
    names = {n for n, _ in query.params()}
    if not names - {"_count", "_sort", "_summary", "_elements", "_total", "_include", "_revinclude"}:
        raise InvalidArgumentError(f"{where}: the query has no search criteria (it would match every {resource_type})")
    return str(render())


PreferReturn = Literal["minimal", "representation", "OperationOutcome"]
"""What a write asks the server to return (FHIR R4 http.html#return)."""
_PREFER_RETURN: tuple[str, ...] = ("minimal", "representation", "OperationOutcome")


def prefer_header(prefer_return: str | None) -> dict[str, str]:
    """``{"prefer": "return=..."}`` for ``prefer_return`` (nothing for None); any other value is refused."""
    if prefer_return is None:
        return {}
    if prefer_return not in _PREFER_RETURN:
        raise InvalidArgumentError(f"prefer_return must be one of {', '.join(_PREFER_RETURN)} (or None)")
    return {"prefer": f"return={prefer_return}"}


class Transaction:
    """A transaction (all or nothing) or batch (independent entries) to send with
    ``clinik.transaction(tx)`` / ``clinik.batch(tx)``.

    >>> from clinikfhir.models import Patient, Observation
    >>> tx = Transaction()
    >>> ref = tx.create(Patient(gender="female"))        # 'urn:uuid:...', usable as a Reference
    >>> ref.startswith("urn:uuid:")
    True

    New resources get ``urn:uuid`` full URLs, which the server rewrites into the ids it assigns, so
    an Observation can reference a Patient created in the same transaction. Conditional entries take
    a typed query: ``tx.create(p, if_none_exist=q)``, ``tx.upsert(p, match=q)``, ``tx.delete(Patient, match=q)``.

    ``Transaction(resources)`` (or simply ``clinik.transaction([...])``) creates those without an id
    and updates those with one.
    """

    def __init__(self, resources: Sequence[Resource] = ()) -> None:
        self._entries: list[_TxEntry] = []
        for r in resources:
            if r.id:
                self.update(r)
            else:
                self.create(r)

    def create(self, resource: Resource, *, if_none_exist: Any = None) -> str:
        """Add a create; return its ``urn:uuid:`` reference for use in other entries.

        ``if_none_exist`` (a typed query on the resource's type, or a query string) makes it
        conditional: when one resource matches, nothing is created and the reference points at it.
        """
        ref = f"urn:uuid:{uuid.uuid4()}"
        name = type_name(type(resource))
        cond = None if if_none_exist is None else criteria(if_none_exist, name, "if_none_exist")
        self._entries.append(_TxEntry("POST", name, resource, ref, None, cond))
        return ref

    def update(self, resource: Resource, *, if_match: str | bool = True) -> None:
        """Add an update (PUT) of ``resource`` by its id; ``If-Match`` from ``meta.versionId`` by default."""
        rid = check_id(resource.id)
        etag = etag_for(resource, if_match)
        name = type_name(type(resource))
        self._entries.append(_TxEntry("PUT", f"{name}/{rid}", resource, None, etag, None))

    def upsert(self, resource: Resource, *, match: Any) -> None:
        """Add a conditional update (``PUT [type]?criteria``): update the one resource ``match`` selects,
        create ``resource`` when none does, fail when several do."""
        name = type_name(type(resource))
        self._entries.append(
            _TxEntry("PUT", f"{name}?{criteria(match, name, 'upsert match')}", resource, None, None, None)
        )

    def delete(self, model: type[Resource], id: str | None = None, *, match: Any = None) -> None:
        """Add a delete of ``model`` ``id``, or a conditional delete of the one resource ``match`` selects."""
        name = type_name(model)
        if (id is None) == (match is None):
            raise InvalidArgumentError("delete(): pass an id or match=, not both")
        url = f"{name}/{check_id(id)}" if id is not None else f"{name}?{criteria(match, name, 'delete match')}"
        self._entries.append(_TxEntry("DELETE", url, None, None, None, None))

    def patch(self, model: type[M], id: str, patch: JsonPatch[M]) -> None:
        """Add a JSON Patch of ``model`` ``id`` (sent as a Binary entry, as FHIR R4 transactions carry patches)."""
        name = type_name(model)
        patch.check(model)
        self._entries.append(_TxEntry("PATCH", f"{name}/{check_id(id)}", None, None, None, None, patch))

    def read(self, model: type[Resource], id: str) -> None:
        """Add a read of ``model`` ``id`` (useful in batches)."""
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
        if not self._entries:
            raise InvalidArgumentError(f"an empty {kind} has nothing to send")
        entries: list[dict[str, Any]] = []
        for e in self._entries:
            entry: dict[str, Any] = {}
            if e.full_url:
                entry["fullUrl"] = e.full_url
            if e.resource is not None:
                entry["resource"] = resource_json(e.resource)
            if e.patch is not None:
                entry["resource"] = _binary_patch(e.patch)
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
        """Deprecated: ``Transaction(resources)``, or pass the list to ``clinik.transaction([...])``."""
        warnings.warn(
            "Transaction.of(list) is deprecated: use Transaction(list), or clinik.transaction(list)",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(resources)


def _binary_patch(patch: JsonPatch[Any]) -> dict[str, Any]:
    import base64

    from clinikfhir.models import encode

    data = base64.b64encode(encode(patch.operations)).decode("ascii")
    return {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}


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

    @property
    def reference(self) -> str | None:
        """``Type/id`` of the resource the entry wrote or found, from ``location``
        (``Patient/1/_history/2`` or an absolute URL); None when there is no location."""
        if not self.location:
            return None
        segments = [s for s in self.location.split("/_history/", 1)[0].split("?", 1)[0].split("/") if s]
        return "/".join(segments[-2:]) if len(segments) >= 2 else None


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
            raise InvalidResponseError(
                f"Bundle.entry[{index}] returned no resource (as with Prefer: return=minimal)",
                request_id=self.meta.request_id,
            )
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


for _public_class in (Page, Transaction, BundleResponse):
    shown_as_root(_public_class)  # shown as clinikfhir.X, its public name
