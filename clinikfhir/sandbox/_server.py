"""The FHIR server behind the gateway: routing of `/v1/fhir/...`, the interactions, history, search
paging, `$everything`, `$validate` and batch/transaction Bundles, over the store and the search engine.

It knows nothing of keys, rate limits or idempotency: the gateway authenticates, then hands it a
:class:`Principal` (env, tenant, the absolute base for links, and how to check the key's scope for
each Bundle entry).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from . import search
from ._bundle import process_bundle
from ._fhir import (
    NO_BODY,
    Caller,
    EntryHeaders,
    Kind,
    Principal,
    Result,
    Stored,
    check_id,
    check_type,
    create,
    delete,
    interaction_kind,
    not_found,
    owned,
    patch,
    prepare_new,
    read,
    returned,
    structural,
    update,
    vread,
)
from ._http import ErrorIssue, GatewayError, arr, dumps, iso_instant, obj
from ._pages import PAGE_PARAM, PageSigner, bundle_bytes, clamp_count, entry_text, fetch_bodies, link_url, subset
from ._store import Store
from ._tenant import check_search


def _resource_result(stored: Stored, status: int, *, location: bool = False) -> Result:
    body = (stored.body or "").encode("utf-8")
    return Result(status, body, stored.headers(location=location), stored)


class FhirServer:
    """FHIR R4 interactions over a :class:`Store`, one tenant and environment at a time. Thread-safe."""

    def __init__(self, store: Store, signer: PageSigner, known_tenants: Callable[[], set[str]]) -> None:
        self.store = store
        self.signer = signer
        self._key_tenants = known_tenants

    def tenant_codes(self) -> set[str]:
        """Every tenant code known: those of keys and those that own stored data."""
        with self.store.read() as conn:
            stored = self.store.tenants(conn)
        return self._key_tenants() | stored

    # ------------------------------------------------------------------ connections

    @contextmanager
    def _writer(self, conn: sqlite3.Connection | None) -> Generator[sqlite3.Connection, None, None]:
        if conn is not None:
            yield conn
        else:
            with self.store.write() as w:
                yield w

    @contextmanager
    def _reader(self, conn: sqlite3.Connection | None) -> Generator[sqlite3.Connection, None, None]:
        if conn is not None:
            yield conn
        else:
            with self.store.read() as r:
                yield r

    # ------------------------------------------------------------------ routing

    def route(
        self,
        who: Principal,
        method: str,
        segs: list[str],
        pairs: list[tuple[str, str]],
        body: Any,
        hdrs: EntryHeaders,
        conn: sqlite3.Connection | None = None,
        assigned_id: str | None = None,
        matched: Sequence[str] | None = None,
        prepared: dict[str, Any] | Exception | None = None,
    ) -> Result:
        """Dispatch one FHIR interaction (a request, or one Bundle entry when ``conn`` is given).

        ``matched``: for a conditional create in a transaction, what its ``If-None-Exist`` criteria
        match, when the transaction already knows it (else the engine is asked). ``prepared``: for a
        create in a transaction, what :func:`prepare_new` gave for its body before the transaction
        took the writer (the resource, or the error it raised), used in its place."""
        caller = who.caller
        n = len(segs)
        if n == 0:
            if method == "POST":
                if conn is not None:
                    raise GatewayError(400, "INVALID_PARAMETER", "A Bundle entry may not contain a Bundle request")
                _need_body(body)
                return process_bundle(self, who, body, hdrs.prefer)
            if method == "GET":
                raise GatewayError(400, "INVALID_PARAMETER", "System-level search is not supported; search a type")
            raise _not_allowed()
        rtype = segs[0]
        if rtype.startswith(("_", "$")):
            raise GatewayError(400, "INVALID_PARAMETER", "System-level interactions are not supported")
        check_type(rtype)
        if n == 1:
            if method == "GET":
                return self._search(who, rtype, pairs, conn, hdrs.prefer)
            if method == "POST":
                return self._create(caller, rtype, body, hdrs, conn, assigned_id, matched, prepared)
            if method == "PUT" and pairs:
                return self._conditional_update(caller, rtype, pairs, body, hdrs, conn)
            if method == "DELETE" and pairs:
                return self._conditional_delete(caller, rtype, pairs, conn)
            raise _not_allowed()
        second = segs[1]
        if n == 2 and second == "_search":
            if method != "POST":
                raise _not_allowed()
            return self._search(who, rtype, pairs, conn, hdrs.prefer)
        if n == 2 and second == "_history":
            if method != "GET":
                raise _not_allowed()
            return self._history(who, rtype, None, pairs, conn)
        if second == "$validate" and n == 2:
            if method != "POST":
                raise _not_allowed()
            return self._validate(rtype, body)
        if second == "$everything" and n == 2 and rtype == "Patient":
            if method not in ("GET", "POST"):
                raise _not_allowed()
            return self._everything(who, None, pairs, body, conn)
        if second.startswith("$"):
            raise GatewayError(400, "INVALID_PARAMETER", "This operation is not supported")
        rid = second
        check_id(rid)
        if n == 2:
            return self._instance(caller, method, rtype, rid, body, hdrs, conn)
        third = segs[2]
        if n == 3 and third == "_history":
            if method != "GET":
                raise _not_allowed()
            return self._history(who, rtype, rid, pairs, conn)
        if n == 4 and third == "_history":
            if method != "GET":
                raise _not_allowed()
            with self._reader(conn) as r:
                return _resource_result(vread(r, caller, rtype, rid, segs[3]), 200)
        if n == 3 and third == "$everything" and rtype == "Patient":
            if method not in ("GET", "POST"):
                raise _not_allowed()
            return self._everything(who, rid, pairs, body, conn)
        if n == 3 and third == "$validate":
            if method != "POST":
                raise _not_allowed()
            return self._validate(rtype, body)
        raise GatewayError(404, "NOT_FOUND", "No such route")

    # ------------------------------------------------------------------ instance interactions

    def _instance(
        self,
        caller: Caller,
        method: str,
        rtype: str,
        rid: str,
        body: Any,
        hdrs: EntryHeaders,
        conn: sqlite3.Connection | None,
    ) -> Result:
        if method == "GET":
            with self._reader(conn) as r:
                return _resource_result(read(r, caller, rtype, rid), 200)
        if method == "PUT":
            _need_body(body)
            with self._writer(conn) as w:
                stored = update(self.store, w, caller, rtype, rid, body, hdrs.if_match)
            return returned(_resource_result(stored, 200), hdrs.prefer)
        if method == "PATCH":
            _need_body(body)
            with self._writer(conn) as w:
                stored = patch(self.store, w, caller, rtype, rid, body, hdrs.if_match)
            return returned(_resource_result(stored, 200), hdrs.prefer)
        if method == "DELETE":
            with self._writer(conn) as w:
                stored = delete(self.store, w, caller, rtype, rid, hdrs.if_match)
            return Result(204, b"", [("ETag", stored.etag)], stored)
        raise _not_allowed()

    def _create(
        self,
        caller: Caller,
        rtype: str,
        body: Any,
        hdrs: EntryHeaders,
        conn: sqlite3.Connection | None,
        assigned_id: str | None = None,
        matched: Sequence[str] | None = None,
        ready: dict[str, Any] | Exception | None = None,
    ) -> Result:
        _need_body(body)
        if isinstance(ready, Exception):
            raise ready
        prepared = ready if ready is not None else prepare_new(caller, rtype, body)
        with self._writer(conn) as w:
            if hdrs.if_none_exist is not None:
                if matched is not None:
                    ids = list(matched)
                else:
                    criteria = parse_qsl(hdrs.if_none_exist.lstrip("?"), keep_blank_values=True)
                    ids = self.match(w, caller, rtype, criteria, "If-None-Exist")
                if len(ids) > 1:
                    raise _precondition("If-None-Exist matches more than one resource")
                if len(ids) == 1:
                    return returned(_resource_result(read(w, caller, rtype, ids[0]), 200), hdrs.prefer)
            stored = create(self.store, w, caller, rtype, prepared, assigned_id)
        return returned(_resource_result(stored, 201, location=True), hdrs.prefer)

    # ------------------------------------------------------------------ conditional interactions

    def match(
        self, conn: sqlite3.Connection, caller: Caller, rtype: str, criteria: Sequence[tuple[str, str]], what: str
    ) -> list[str]:
        """Ids matching conditional criteria (at most 2 are asked for: 0, 1 or many)."""
        criteria = [(k, v) for k, v in criteria if k not in ("_count", PAGE_PARAM, "_format")]
        if not criteria:
            raise GatewayError(400, "INVALID_PARAMETER", f"{what} needs search criteria")
        check_search(criteria, caller.tenant, self.tenant_codes)
        self.store.catch_up()
        try:
            result = search.run(
                conn,
                env=caller.env,
                tenant=caller.tenant,
                type=rtype,
                params=criteria,
                offset=0,
                count=2,
                lenient=False,
            )
        except search.SearchError as err:
            raise _search_error(err) from None
        return list(result.ids)

    def surely_unmatched(
        self, conn: sqlite3.Connection, caller: Caller, asks: Sequence[tuple[str, Sequence[tuple[str, str]]]]
    ) -> list[bool | None]:
        """Per (type, criteria) of a conditional interaction: True when :meth:`match` would surely
        answer no ids (and raise nothing), False when it may match, found for all of them by one index
        statement; None when the criteria are not plain token equalities or the tenant rule refuses
        them (:func:`search.surely_unmatched`): then only :meth:`match` can tell."""
        if not asks:
            return []
        self.store.catch_up()  # what match sees: the rows this transaction has queued
        return search.surely_unmatched(
            conn, env=caller.env, tenant=caller.tenant, asks=asks, tenant_codes=self.tenant_codes
        )

    def _conditional_update(
        self,
        caller: Caller,
        rtype: str,
        criteria: list[tuple[str, str]],
        body: Any,
        hdrs: EntryHeaders,
        conn: sqlite3.Connection | None,
    ) -> Result:
        _need_body(body)
        with self._writer(conn) as w:
            ids = self.match(w, caller, rtype, criteria, "A conditional update")
            if len(ids) > 1:
                raise _precondition("The conditional update criteria match more than one resource")
            if not ids:
                if isinstance(body, dict) and "id" in body:
                    raise not_found()  # no upsert: a client may not choose the id of a new resource
                prepared = prepare_new(caller, rtype, body)
                created = create(self.store, w, caller, rtype, prepared)
                return returned(_resource_result(created, 201, location=True), hdrs.prefer)
            resource: Any = body
            given = obj(body)
            if given is not None and "id" not in given:
                resource = {**given, "id": ids[0]}
            stored = update(self.store, w, caller, rtype, ids[0], resource, hdrs.if_match)
            return returned(_resource_result(stored, 200), hdrs.prefer)

    def _conditional_delete(
        self, caller: Caller, rtype: str, criteria: list[tuple[str, str]], conn: sqlite3.Connection | None
    ) -> Result:
        with self._writer(conn) as w:
            ids = self.match(w, caller, rtype, criteria, "A conditional delete")
            if len(ids) > 1:
                raise _precondition("The conditional delete criteria match more than one resource")
            if not ids:
                return Result(204)
            stored = delete(self.store, w, caller, rtype, ids[0], None)
        return Result(204, b"", [("ETag", stored.etag)], stored)

    # ------------------------------------------------------------------ search

    def _search(
        self,
        who: Principal,
        rtype: str,
        pairs: list[tuple[str, str]],
        conn: sqlite3.Connection | None,
        prefer: str | None = None,
    ) -> Result:
        caller = who.caller
        count, token, params = _paging(pairs)
        check_search(params, caller.tenant, self.tenant_codes)
        position = self.signer.position(token, caller.env, caller.tenant, rtype, params) if token else None
        offset = position.offset if position is not None else 0
        lenient = _lenient(prefer)
        self.store.catch_up()
        with self._reader(conn) as r:
            try:
                result = search.run(
                    r,
                    env=caller.env,
                    tenant=caller.tenant,
                    type=rtype,
                    params=params,
                    offset=offset,
                    count=count,
                    lenient=lenient,
                    snapshot=(position.snapshot if position is not None else None) or True,
                )
            except search.SearchError as err:
                raise _search_error(err) from None
            return self._searchset(r, who, rtype, rtype, params, offset, count, result)

    def _searchset(
        self,
        conn: sqlite3.Connection,
        who: Principal,
        route: str,
        match_type: str,
        params: list[tuple[str, str]],
        offset: int,
        count: int,
        result: search.SearchResult,
    ) -> Result:
        caller = who.caller
        total = result.total
        snap = result.snapshot
        links = [("self", self._link(who, route, params, count, offset, snap))]
        if result.summary_count:
            return Result(200, bundle_bytes(btype="searchset", total=total, links=links, entries=[]))
        matches = [_split_ref(i, match_type) for i in result.ids]
        has_next = (offset + count < total) if total is not None else len(matches) >= count
        if has_next:
            links.append(("next", self._link(who, route, params, count, offset + count, snap)))
        if offset > 0:
            links.append(("previous", self._link(who, route, params, count, max(0, offset - count), snap)))
        matched = set(matches)
        includes = [ref for ref in result.includes if ref not in matched]
        bodies = fetch_bodies(
            conn, caller.env, caller.tenant, [*matches, *includes], lingering=self.store.index_lag > 0
        )
        entries: list[str] = []
        for mode, refs in (("match", matches), ("include", includes)):
            for ref in refs:
                text = bodies.get(ref)
                if text is None:
                    continue
                if result.elements:
                    text = subset(text, result.elements)
                entries.append(entry_text(f"{who.base}/{ref[0]}/{ref[1]}", text, {"search": {"mode": mode}}))
        if result.warnings:
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": w} for w in result.warnings],
            }
            entries.append(entry_text(None, dumps(outcome).decode("utf-8"), {"search": {"mode": "outcome"}}))
        return Result(200, bundle_bytes(btype="searchset", total=total, links=links, entries=entries))

    def _link(
        self,
        who: Principal,
        route: str,
        params: list[tuple[str, str]],
        count: int,
        offset: int,
        snapshot: str | None = None,
    ) -> str:
        """An absolute page link on the public origin (``link_url`` gives the gateway path).

        A search's later pages name its snapshot (the ordered matches kept by the engine), so a page
        costs what its own entries cost; history pages and ``$everything`` page by offset.
        """
        caller = who.caller
        unsigned = offset == 0 and snapshot is None
        token = None if unsigned else self.signer.sign(caller.env, caller.tenant, route, params, offset, snapshot)
        return who.origin + link_url(route, params, count, token)

    def _everything(
        self,
        who: Principal,
        rid: str | None,
        pairs: list[tuple[str, str]],
        body: Any,
        conn: sqlite3.Connection | None,
    ) -> Result:
        caller = who.caller
        parameters = obj(body)
        if parameters is not None and parameters.get("resourceType") == "Parameters":
            for item in arr(parameters.get("parameter")) or []:
                param = obj(item)
                if param is not None and isinstance(param.get("name"), str):
                    for key in (
                        "valueDate",
                        "valueDateTime",
                        "valueInstant",
                        "valueString",
                        "valueCode",
                        "valueInteger",
                    ):
                        if key in param:
                            pairs = [*pairs, (str(param["name"]), str(param[key]))]
        count, token, params = _paging(pairs)
        allowed = {"start", "end", "_since", "_type"}
        for k, _v in params:
            if k not in allowed:
                raise GatewayError(400, "INVALID_PARAMETER", f"$everything does not support the parameter {k[:40]}")
        route = f"Patient/{rid}/$everything" if rid else "Patient/$everything"
        offset = self.signer.offset(token, caller.env, caller.tenant, route, params) if token is not None else 0
        values = dict(params)
        types = [t for t in values.get("_type", "").split(",") if t] or None
        self.store.catch_up()
        with self._reader(conn) as r:
            if rid is not None:
                owned(r, caller, "Patient", rid)
            try:
                result = search.everything(
                    r,
                    env=caller.env,
                    tenant=caller.tenant,
                    patient_id=rid,
                    start=values.get("start"),
                    end=values.get("end"),
                    since=values.get("_since"),
                    types=types,
                    offset=offset,
                    count=count,
                )
            except search.SearchError as err:
                raise _search_error(err) from None
            return self._searchset(r, who, route, "Patient", params, offset, count, result)

    # ------------------------------------------------------------------ history

    def _history(
        self,
        who: Principal,
        rtype: str,
        rid: str | None,
        pairs: list[tuple[str, str]],
        conn: sqlite3.Connection | None,
    ) -> Result:
        caller = who.caller
        count, token, params = _paging(pairs)
        since: str | None = None
        for k, v in params:
            if k == "_since":
                since = _instant_param(v)
            else:
                raise GatewayError(400, "INVALID_PARAMETER", f"History does not support the parameter {k[:40]}")
        route = f"{rtype}/{rid}/_history" if rid else f"{rtype}/_history"
        offset = self.signer.offset(token, caller.env, caller.tenant, route, params) if token is not None else 0
        with self._reader(conn) as r:
            if rid is not None:
                cur = self.store.current(r, caller.env, rtype, rid)
                if cur is None or cur.tenant != caller.tenant:
                    raise not_found()
            total, versions = self.store.history_page(
                r, env=caller.env, tenant=caller.tenant, rtype=rtype, rid=rid, since=since, offset=offset, count=count
            )
        links = [("self", self._link(who, route, params, count, offset))]
        if offset + count < total:
            links.append(("next", self._link(who, route, params, count, offset + count)))
        entries: list[str] = []
        for ver in versions:
            stored = Stored(rtype, ver.rid, ver.version, ver.last_updated, None)
            status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(ver.method, "200 OK")
            request = {"method": ver.method, "url": rtype if ver.method == "POST" else f"{rtype}/{ver.rid}"}
            response = {"status": status, "etag": stored.etag, "lastModified": stored.last_updated}
            extra = {"request": request, "response": response}
            entries.append(entry_text(f"{who.base}/{rtype}/{ver.rid}", ver.body, extra))
        return Result(200, bundle_bytes(btype="history", total=total, links=links, entries=entries))

    # ------------------------------------------------------------------ $validate

    @staticmethod
    def _validate(rtype: str, body: Any) -> Result:
        from clinikfhir.validation import to_operation_outcome, validate

        _need_body(body)
        resource = obj(body)
        if resource is not None and resource.get("resourceType") == "Parameters" and rtype != "Parameters":
            found: dict[str, Any] | None = None
            for item in arr(resource.get("parameter")) or []:
                param = obj(item)
                if param is not None and param.get("name") == "resource":
                    found = obj(param.get("resource"))
            if found is None:
                raise structural("Parameters has no parameter named resource with a resource", "Parameters.parameter")
            resource = found
        if resource is None:
            raise structural("$validate needs a resource or Parameters with a resource", rtype)
        if resource.get("resourceType") != rtype:
            raise structural("resourceType does not match the type in the path", f"{rtype}.resourceType")
        outcome = to_operation_outcome(validate(resource))
        return Result(200, dumps(outcome))


def _paging(pairs: list[tuple[str, str]]) -> tuple[int, str | None, list[tuple[str, str]]]:
    """(count, page token, the other parameters) of a search, history or $everything request."""
    count = clamp_count(next((v for k, v in reversed(pairs) if k == "_count"), None))
    token = next((v for k, v in reversed(pairs) if k == PAGE_PARAM), None)
    return count, token, [(k, v) for k, v in pairs if k not in ("_count", PAGE_PARAM)]


def _not_allowed() -> GatewayError:
    return GatewayError(405, "METHOD_NOT_ALLOWED", "This method is not allowed on this path")


def _precondition(message: str) -> GatewayError:
    return GatewayError(
        412,
        "PRECONDITION_FAILED",
        message,
        issues=[ErrorIssue("error", "multiple-matches", message).as_json()],
        fhir=True,
    )


def _need_body(body: Any) -> None:
    if body is NO_BODY:
        raise GatewayError(400, "INVALID_JSON", "A JSON request body is required")


def _search_error(err: search.SearchError) -> GatewayError:
    if err.status == 404:
        return not_found()
    issue = "forbidden" if err.status == 403 else "invalid"
    return GatewayError(
        err.status, err.code, err.message, issues=[ErrorIssue("error", issue, err.message).as_json()], fhir=True
    )


def _split_ref(value: str, default_type: str) -> tuple[str, str]:
    if "/" in value:
        rtype, _, rid = value.partition("/")
        return rtype, rid
    return default_type, value


def _lenient(prefer: str | None) -> bool:
    return prefer is not None and "handling=lenient" in prefer.replace(" ", "").lower()


def _instant_param(value: str) -> str:
    """A FHIR dateTime/instant parameter in the store's instant format (UTC), else 400."""
    text = value.strip().replace(" ", "+")
    try:
        if len(text) == 4 and text.isdigit():
            moment = dt.datetime(int(text), 1, 1, tzinfo=dt.UTC)
        elif len(text) == 7:
            moment = dt.datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise GatewayError(400, "INVALID_PARAMETER", "_since must be a FHIR instant or dateTime") from None
    return iso_instant(moment)


__all__ = ["FhirServer", "Kind", "Principal", "interaction_kind"]
