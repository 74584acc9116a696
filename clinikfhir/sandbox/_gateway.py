"""The gateway: one request handler for every front end.

It applies the gateway rules in order (fault injection, method-override rejection, body cap, key,
rate limit, scope, media type, idempotency), routes `/v1/fhir/...` to the FHIR store, and wraps every
answer with `x-request-id`, `x-timestamp` and the rate-limit headers. Errors use the §8 envelope.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import traceback
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from clinikfhir._wire import MAX_BODY_BYTES

from ._capability import capability_statement
from ._fhir import (
    Caller,
    Stored,
    check_id,
    check_type,
    create,
    delete,
    not_found,
    owned,
    patch,
    prepare_new,
    read,
    structural,
    update,
    vread,
)
from ._http import (
    FHIR_JSON,
    PLAIN_JSON,
    REASONS,
    ApiError,
    ErrorIssue,
    Request,
    Response,
    arr,
    dumps,
    error_body,
    iso_instant,
    loads_exact,
    new_request_id,
    now_utc,
    obj,
)
from ._keys import KeyInfo, KeyRing
from ._limits import Faults, IdempotencyCache, RateLimiter, RateState
from ._pages import PAGE_PARAM, PageSigner, bundle_bytes, clamp_count, entry_text, fetch_bodies, link_url, subset
from ._store import Store
from ._tenant import check_search

MAX_BODY = MAX_BODY_BYTES  # the request body cap (one definition: clinikfhir._wire)

JSON_TYPES = frozenset({"application/json", "application/fhir+json", "application/json-patch+json"})
FORM_TYPE = "application/x-www-form-urlencoded"
OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_METHODS = WRITE_METHODS | {"GET"}
ADMIN_PATH = "/_sandbox/faults"
_NO_BODY: Any = object()
_FAULT_CODES = {
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "UPSTREAM_TIMEOUT",
}


@dataclass(slots=True)
class Result:
    """What a FHIR route produced, before the gateway adds its headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=lambda: [])
    stored: Stored | None = None
    content_type: str = FHIR_JSON


@dataclass(slots=True)
class EntryHeaders:
    """The per-request (or per-Bundle-entry) conditional headers."""

    if_match: str | None = None
    if_none_exist: str | None = None
    prefer: str | None = None


@dataclass(slots=True)
class _Ctx:
    request_id: str
    extra: list[tuple[str, str]] = field(default_factory=lambda: [])
    delay: float = 0.0


def _resource_result(stored: Stored, status: int, *, location: bool = False) -> Result:
    body = (stored.body or "").encode("utf-8")
    return Result(status, body, stored.headers(location=location), stored)


def _split_path(path: str) -> list[str]:
    return path.split("/")


class Gateway:
    """The ClinikAPI gateway in front of the FHIR store. Thread-safe."""

    def __init__(
        self,
        store: Store,
        keys: KeyRing,
        *,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        software_version: str = "0.1.0",
    ) -> None:
        self.store = store
        self.keys = keys
        self.rate = RateLimiter(rate_limit, rate_window)
        self.faults = Faults()
        self.idempotency = IdempotencyCache()
        self.signer = PageSigner(secrets.token_bytes(32))
        self.software_version = software_version
        self.internal_errors: list[str] = []
        self._errors_lock = threading.Lock()
        self._capability: bytes | None = None

    # ------------------------------------------------------------------ entry point

    def handle(self, req: Request) -> Response:
        """Answer one request. Never raises."""
        ctx = _Ctx(new_request_id())
        try:
            resp = self._handle(req, ctx)
        except ApiError as err:
            resp = self._error(err, ctx)
        except Exception:
            with self._errors_lock:
                self.internal_errors.append(traceback.format_exc())
            resp = self._error(ApiError(500, "INTERNAL_ERROR", "An unexpected error occurred"), ctx)
        resp.headers.append(("x-request-id", ctx.request_id))
        resp.headers.append(("x-timestamp", iso_instant(now_utc())[:-4] + "Z"))
        resp.headers.extend(ctx.extra)
        resp.delay = max(resp.delay, ctx.delay)
        return resp

    def _error(self, err: ApiError, ctx: _Ctx) -> Response:
        ctype = FHIR_JSON if err.fhir else PLAIN_JSON
        return Response(err.status, [("Content-Type", ctype), *err.headers], error_body(err, ctx.request_id))

    def _handle(self, req: Request, ctx: _Ctx) -> Response:
        path = req.path
        if path == ADMIN_PATH:
            return self._admin(req)
        ctx.delay = self.faults.current_latency()
        failure = self.faults.take_failure()
        if failure is not None:
            status, retry_after = failure
            raise ApiError(
                status,
                _FAULT_CODES[status],
                "Injected failure: try again later",
                headers=[("Retry-After", str(retry_after))],
            )
        for name in OVERRIDE_HEADERS:
            if req.header(name) is not None:
                raise ApiError(400, "METHOD_OVERRIDE_REJECTED", "Method-override headers are not accepted")
        if len(req.body) > MAX_BODY:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "The request body exceeds 1 MiB")
        method = req.method.upper()
        if method not in ALLOWED_METHODS:
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Use GET, POST, PUT, PATCH or DELETE")
        if path == "/health":
            if method != "GET":
                raise ApiError(405, "METHOD_NOT_ALLOWED", "Only GET is allowed here")
            return Response(
                200, [("Content-Type", PLAIN_JSON)], dumps({"status": "ok", "timestamp": iso_instant(now_utc())})
            )
        if path in ("/v1/metadata", "/v1/fhir/metadata"):
            if method != "GET":
                raise ApiError(405, "METHOD_NOT_ALLOWED", "Only GET is allowed here")
            return Response(200, [("Content-Type", FHIR_JSON)], self.capability())
        if not (path == "/v1" or path.startswith("/v1/")):
            raise ApiError(404, "NOT_FOUND", "No such route")
        info = self.keys.authenticate(req.header("x-api-key"))
        state = self.rate.hit(info.tenant)
        if state is not None:
            ctx.extra.extend(_rate_headers(state))
            if not state.allowed:
                raise ApiError(
                    429,
                    "RATE_LIMITED",
                    "Rate limit exceeded: too many requests for this organisation",
                    headers=[("Retry-After", str(state.reset))],
                )
        self._check_scope(info, method)
        if not (path == "/v1/fhir" or path.startswith("/v1/fhir/")):
            raise ApiError(404, "NOT_FOUND", "No such route")
        raw_segments = _split_path(path[len("/v1/fhir") :].lstrip("/")) if path != "/v1/fhir" else []
        if raw_segments and raw_segments[-1] == "":
            raw_segments = raw_segments[:-1]
        segments = [unquote(s) for s in raw_segments]
        for seg in segments:
            if seg.strip(".") == "":
                raise ApiError(400, "INVALID_PARAMETER", "Path segments may not be empty or consist of dots only")
        pairs = parse_qsl(req.query, keep_blank_values=True)
        for name, value in pairs:
            if name == "_format" and "xml" in value.lower():
                raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Only JSON is supported")
        pairs = [(n, v) for n, v in pairs if n not in ("_format", "_pretty")]
        caller = Caller(info.env, info.tenant)
        body: Any = _NO_BODY
        form = False
        if method in WRITE_METHODS and req.body.strip():
            ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
            if ctype == FORM_TYPE and len(segments) == 2 and segments[1] == "_search":
                form = True
            elif ctype and ctype not in JSON_TYPES:
                raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send JSON: application/fhir+json or application/json")
            if not form:
                try:
                    body = loads_exact(req.body)
                except ValueError as exc:
                    raise ApiError(400, "INVALID_JSON", f"The request body is not valid JSON ({exc})") from None
        if form:
            pairs = pairs + parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        hdrs = EntryHeaders(req.header("if-match"), req.header("if-none-exist"), req.header("prefer"))
        base = f"{req.scheme}://{req.host}/v1/fhir"

        def run() -> Result:
            return self.route(caller, info, method, segments, pairs, body, hdrs, base)

        idem_key = req.header("idempotency-key")
        if idem_key is not None and method in ("POST", "PATCH"):
            target = path + ("?" + req.query if req.query else "")
            result = self._idempotent(caller, method, target, idem_key, req.body, run, ctx.request_id)
        else:
            result = run()
        headers = [("Content-Type", result.content_type)] if result.body else []
        resp = Response(result.status, [*headers, *result.headers], result.body)
        if method in WRITE_METHODS and 200 <= result.status < 300 and self.faults.take_drop():
            resp.drop = True
        return resp

    def _idempotent(
        self,
        caller: Caller,
        method: str,
        target: str,
        key: str,
        raw: bytes,
        run: Callable[[], Result],
        request_id: str,
    ) -> Result:
        """Replay the first response for (env, tenant, method, target, key); 409 for another body."""
        if not key or len(key) > 255:
            raise ApiError(400, "INVALID_PARAMETER", "Idempotency-Key must have 1-255 characters")
        scope = (caller.env, caller.tenant, method, target, key)
        digest = self.idempotency.digest(raw)
        with self.idempotency.slot_lock(scope):
            stored = self.idempotency.get(scope)
            if stored is not None:
                if stored.digest != digest:
                    raise ApiError(
                        409, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with a different body"
                    )
                headers = [h for h in stored.headers if h[0] != "Content-Type"]
                ctype = next((v for k, v in stored.headers if k == "Content-Type"), FHIR_JSON)
                return Result(stored.status, stored.body, [*headers, ("Idempotent-Replayed", "true")], None, ctype)
            try:
                result = run()
            except ApiError as err:
                if err.status < 500 and err.status != 429:
                    body = error_body(err, request_id)
                    self.idempotency.put(
                        scope, digest, err.status, [("Content-Type", FHIR_JSON if err.fhir else PLAIN_JSON)], body
                    )
                raise
            self.idempotency.put(
                scope, digest, result.status, [("Content-Type", result.content_type), *result.headers], result.body
            )
            return result

    @staticmethod
    def _check_scope(info: KeyInfo, method: str) -> None:
        if info.scope == "*":
            return
        need = "read" if method == "GET" else "write"
        if info.scope != need:
            raise ApiError(403, "FORBIDDEN", f"The API key does not have the {need} scope")

    def _tenant_codes(self) -> set[str]:
        """Every tenant code known: those of keys and those that own stored data."""
        with self.store.read() as conn:
            stored = {str(row[0]) for row in conn.execute("SELECT DISTINCT tenant FROM history")}
        return self.keys.tenants() | stored

    def capability(self) -> bytes:
        if self._capability is None:
            self._capability = capability_statement(self.store.search, self.software_version)
        return self._capability

    # ------------------------------------------------------------------ admin (loopback only)

    def _admin(self, req: Request) -> Response:
        if not req.loopback:
            raise ApiError(404, "NOT_FOUND", "No such route")
        if req.method.upper() == "GET":
            return Response(200, [("Content-Type", PLAIN_JSON)], dumps(self.faults.pending()))
        if req.method.upper() != "POST":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Use GET or POST")
        try:
            spec = obj(loads_exact(req.body or b"{}"))
        except ValueError:
            raise ApiError(400, "INVALID_JSON", "The request body is not valid JSON") from None
        if spec is None:
            raise ApiError(400, "INVALID_PARAMETER", "Send a JSON object")
        try:
            if spec.get("reset"):
                self.faults.reset()
            if "fail_next" in spec:
                self.faults.fail_next(
                    int(spec["fail_next"]),
                    status=int(spec.get("status", 503)),
                    retry_after=int(spec.get("retry_after", 1)),
                )
            if "latency" in spec:
                self.faults.latency(float(spec["latency"]))
            if "drop_after_commit" in spec:
                self.faults.drop_after_commit(int(spec["drop_after_commit"]))
        except (TypeError, ValueError):
            raise ApiError(
                400,
                "INVALID_PARAMETER",
                "Expected fail_next/status/retry_after/drop_after_commit integers, latency a number, reset a boolean",
            ) from None
        return Response(200, [("Content-Type", PLAIN_JSON)], dumps(self.faults.pending()))

    # ------------------------------------------------------------------ routing

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

    def route(
        self,
        caller: Caller,
        info: KeyInfo,
        method: str,
        segs: list[str],
        pairs: list[tuple[str, str]],
        body: Any,
        hdrs: EntryHeaders,
        base: str,
        conn: sqlite3.Connection | None = None,
        assigned_id: str | None = None,
    ) -> Result:
        """Dispatch one FHIR interaction (a request, or one Bundle entry when ``conn`` is given)."""
        n = len(segs)
        if n == 0:
            if method == "POST":
                if conn is not None:
                    raise ApiError(400, "INVALID_PARAMETER", "A Bundle entry may not contain a Bundle request")
                return self._bundle(caller, info, body, base)
            if method == "GET":
                raise ApiError(400, "INVALID_PARAMETER", "System-level search is not supported; search a type")
            raise _not_allowed()
        rtype = segs[0]
        if rtype.startswith(("_", "$")):
            raise ApiError(400, "INVALID_PARAMETER", "System-level interactions are not supported")
        check_type(rtype)
        if n == 1:
            if method == "GET":
                return self._search(caller, rtype, pairs, base, conn, hdrs.prefer)
            if method == "POST":
                return self._create(caller, rtype, body, hdrs, conn, assigned_id)
            if method == "PUT" and pairs:
                return self._conditional_update(caller, rtype, pairs, body, hdrs, conn)
            if method == "DELETE" and pairs:
                return self._conditional_delete(caller, rtype, pairs, conn)
            raise _not_allowed()
        second = segs[1]
        if n == 2 and second == "_search":
            if method != "POST":
                raise _not_allowed()
            return self._search(caller, rtype, pairs, base, conn, hdrs.prefer)
        if n == 2 and second == "_history":
            if method != "GET":
                raise _not_allowed()
            return self._history(caller, rtype, None, pairs, base, conn)
        if second == "$validate" and n == 2:
            if method != "POST":
                raise _not_allowed()
            return self._validate(rtype, body)
        if second == "$everything" and n == 2 and rtype == "Patient":
            if method not in ("GET", "POST"):
                raise _not_allowed()
            return self._everything(caller, None, pairs, body, base, conn)
        if second.startswith("$"):
            raise ApiError(400, "INVALID_PARAMETER", "This operation is not supported")
        rid = second
        check_id(rid)
        if n == 2:
            return self._instance(caller, method, rtype, rid, body, hdrs, conn)
        third = segs[2]
        if n == 3 and third == "_history":
            if method != "GET":
                raise _not_allowed()
            return self._history(caller, rtype, rid, pairs, base, conn)
        if n == 4 and third == "_history":
            if method != "GET":
                raise _not_allowed()
            with self._reader(conn) as r:
                return _resource_result(vread(r, caller, rtype, rid, segs[3]), 200)
        if n == 3 and third == "$everything" and rtype == "Patient":
            if method not in ("GET", "POST"):
                raise _not_allowed()
            return self._everything(caller, rid, pairs, body, base, conn)
        if n == 3 and third == "$validate":
            if method != "POST":
                raise _not_allowed()
            return self._validate(rtype, body)
        raise ApiError(404, "NOT_FOUND", "No such route")

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
                return _resource_result(update(self.store, w, caller, rtype, rid, body, hdrs.if_match), 200)
        if method == "PATCH":
            _need_body(body)
            with self._writer(conn) as w:
                return _resource_result(patch(self.store, w, caller, rtype, rid, body, hdrs.if_match), 200)
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
    ) -> Result:
        _need_body(body)
        prepared = prepare_new(caller, rtype, body)
        with self._writer(conn) as w:
            if hdrs.if_none_exist is not None:
                criteria = parse_qsl(hdrs.if_none_exist.lstrip("?"), keep_blank_values=True)
                ids = self._match(w, caller, rtype, criteria, "If-None-Exist")
                if len(ids) > 1:
                    raise _precondition("If-None-Exist matches more than one resource")
                if len(ids) == 1:
                    return _resource_result(read(w, caller, rtype, ids[0]), 200)
            stored = create(self.store, w, caller, rtype, prepared, assigned_id)
        return _resource_result(stored, 201, location=True)

    # ------------------------------------------------------------------ conditional interactions

    def _match(
        self, conn: sqlite3.Connection, caller: Caller, rtype: str, criteria: Sequence[tuple[str, str]], what: str
    ) -> list[str]:
        """Ids matching conditional criteria (at most 2 are asked for: 0, 1 or many)."""
        criteria = [(k, v) for k, v in criteria if k not in ("_count", PAGE_PARAM, "_format")]
        if not criteria:
            raise ApiError(400, "INVALID_PARAMETER", f"{what} needs search criteria")
        search = self._search_engine()
        check_search(criteria, caller.tenant, self._tenant_codes)
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
            ids = self._match(w, caller, rtype, criteria, "A conditional update")
            if len(ids) > 1:
                raise _precondition("The conditional update criteria match more than one resource")
            if not ids:
                if isinstance(body, dict) and "id" in body:
                    raise not_found()  # no upsert: a client may not choose the id of a new resource
                prepared = prepare_new(caller, rtype, body)
                return _resource_result(create(self.store, w, caller, rtype, prepared), 201, location=True)
            resource: Any = body
            given = obj(body)
            if given is not None and "id" not in given:
                resource = {**given, "id": ids[0]}
            return _resource_result(update(self.store, w, caller, rtype, ids[0], resource, hdrs.if_match), 200)

    def _conditional_delete(
        self, caller: Caller, rtype: str, criteria: list[tuple[str, str]], conn: sqlite3.Connection | None
    ) -> Result:
        with self._writer(conn) as w:
            ids = self._match(w, caller, rtype, criteria, "A conditional delete")
            if len(ids) > 1:
                raise _precondition("The conditional delete criteria match more than one resource")
            if not ids:
                return Result(204)
            stored = delete(self.store, w, caller, rtype, ids[0], None)
        return Result(204, b"", [("ETag", stored.etag)], stored)

    # ------------------------------------------------------------------ search

    def _search_engine(self) -> Any:
        search = self.store.search
        if search is None:
            raise ApiError(501, "NOT_IMPLEMENTED", "Search is not available in this build")
        return search

    def _search(
        self,
        caller: Caller,
        rtype: str,
        pairs: list[tuple[str, str]],
        base: str,
        conn: sqlite3.Connection | None,
        prefer: str | None = None,
    ) -> Result:
        search = self._search_engine()
        count = clamp_count(next((v for k, v in reversed(pairs) if k == "_count"), None))
        token = next((v for k, v in reversed(pairs) if k == PAGE_PARAM), None)
        params = [(k, v) for k, v in pairs if k not in ("_count", PAGE_PARAM)]
        check_search(params, caller.tenant, self._tenant_codes)
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
            return self._searchset(r, caller, rtype, rtype, params, offset, count, result, base)

    def _searchset(
        self,
        conn: sqlite3.Connection,
        caller: Caller,
        route: str,
        match_type: str,
        params: list[tuple[str, str]],
        offset: int,
        count: int,
        result: Any,
        base: str,
    ) -> Result:
        total: int | None = result.total
        snap: str | None = getattr(result, "snapshot", None)
        links = [("self", link_url(route, params, count, self._token(caller, route, params, offset, snap)))]
        if getattr(result, "summary_count", False):
            return Result(200, bundle_bytes(btype="searchset", total=total, links=links, entries=[]))
        matches = [_split_ref(i, match_type) for i in result.ids]
        has_next = (offset + count < total) if total is not None else len(matches) >= count
        if has_next:
            nxt = self._token(caller, route, params, offset + count, snap)
            links.append(("next", link_url(route, params, count, nxt)))
        if offset > 0:
            prev = max(0, offset - count)
            links.append(("previous", link_url(route, params, count, self._token(caller, route, params, prev, snap))))
        includes = [ref for ref in result.includes if ref not in set(matches)]
        bodies = fetch_bodies(
            conn, caller.env, caller.tenant, [*matches, *includes], lingering=self.store.index_lag > 0
        )
        elements: list[str] | None = getattr(result, "elements", None)
        entries: list[str] = []
        for mode, refs in (("match", matches), ("include", includes)):
            for ref in refs:
                text = bodies.get(ref)
                if text is None:
                    continue
                if elements:
                    text = subset(text, elements)
                entries.append(entry_text(f"{base}/{ref[0]}/{ref[1]}", text, {"search": {"mode": mode}}))
        warnings: list[str] = list(getattr(result, "warnings", []) or [])
        if warnings:
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": w} for w in warnings],
            }
            entries.append(entry_text(None, dumps(outcome).decode("utf-8"), {"search": {"mode": "outcome"}}))
        return Result(200, bundle_bytes(btype="searchset", total=total, links=links, entries=entries))

    def _token(
        self, caller: Caller, route: str, params: list[tuple[str, str]], offset: int, snapshot: str | None = None
    ) -> str | None:
        if offset == 0 and snapshot is None:
            return None
        return self.signer.sign(caller.env, caller.tenant, route, params, offset, snapshot)

    def _everything(
        self,
        caller: Caller,
        rid: str | None,
        pairs: list[tuple[str, str]],
        body: Any,
        base: str,
        conn: sqlite3.Connection | None,
    ) -> Result:
        search = self.store.search
        if search is None or not hasattr(search, "everything"):
            raise ApiError(501, "NOT_IMPLEMENTED", "$everything is not available in this build")
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
        count = clamp_count(next((v for k, v in reversed(pairs) if k == "_count"), None))
        token = next((v for k, v in reversed(pairs) if k == PAGE_PARAM), None)
        params = [(k, v) for k, v in pairs if k not in ("_count", PAGE_PARAM)]
        allowed = {"start", "end", "_since", "_type"}
        for k, _v in params:
            if k not in allowed:
                raise ApiError(400, "INVALID_PARAMETER", f"$everything does not support the parameter {k[:40]}")
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
            return self._searchset(r, caller, route, "Patient", params, offset, count, result, base)

    # ------------------------------------------------------------------ history

    def _history(
        self,
        caller: Caller,
        rtype: str,
        rid: str | None,
        pairs: list[tuple[str, str]],
        base: str,
        conn: sqlite3.Connection | None,
    ) -> Result:
        count = clamp_count(next((v for k, v in reversed(pairs) if k == "_count"), None))
        token = next((v for k, v in reversed(pairs) if k == PAGE_PARAM), None)
        params = [(k, v) for k, v in pairs if k not in ("_count", PAGE_PARAM)]
        since: str | None = None
        for k, v in params:
            if k == "_since":
                since = _instant_param(v)
            else:
                raise ApiError(400, "INVALID_PARAMETER", f"History does not support the parameter {k[:40]}")
        route = f"{rtype}/{rid}/_history" if rid else f"{rtype}/_history"
        offset = self.signer.offset(token, caller.env, caller.tenant, route, params) if token is not None else 0
        where = "env=? AND type=? AND tenant=?"
        args: list[Any] = [caller.env, rtype, caller.tenant]
        with self._reader(conn) as r:
            if rid is not None:
                cur = self.store.current(r, caller.env, rtype, rid)
                if cur is None or cur.tenant != caller.tenant:
                    raise not_found()
                where += " AND id=?"
                args.append(rid)
            if since is not None:
                where += " AND last_updated>=?"
                args.append(since)
            total = int(r.execute(f"SELECT COUNT(*) FROM history WHERE {where}", args).fetchone()[0])  # noqa: S608
            rows = r.execute(
                f"SELECT id, version, last_updated, deleted, method, body FROM history WHERE {where}"  # noqa: S608
                " ORDER BY last_updated DESC, version DESC LIMIT ? OFFSET ?",
                [*args, count, offset],
            ).fetchall()
        links = [("self", link_url(route, params, count, self._token(caller, route, params, offset)))]
        if offset + count < total:
            links.append(("next", link_url(route, params, count, self._token(caller, route, params, offset + count))))
        entries: list[str] = []
        for hid, version, last_updated, deleted, method, body in rows:
            stored = Stored(rtype, str(hid), int(version), str(last_updated), None)
            status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(str(method), "200 OK")
            request = {"method": str(method), "url": rtype if method == "POST" else f"{rtype}/{hid}"}
            response = {"status": status, "etag": stored.etag, "lastModified": stored.last_updated}
            entries.append(
                entry_text(
                    f"{base}/{rtype}/{hid}",
                    None if deleted else str(body),
                    {"request": request, "response": response},
                )
            )
        return Result(200, bundle_bytes(btype="history", total=total, links=links, entries=entries))

    # ------------------------------------------------------------------ $validate

    def _validate(self, rtype: str, body: Any) -> Result:
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

    # ------------------------------------------------------------------ batch / transaction

    def _bundle(self, caller: Caller, info: KeyInfo, body: Any, base: str) -> Result:
        from ._bundle import process_bundle

        _need_body(body)
        return process_bundle(self, caller, info, body, base)


def _rate_headers(state: RateState) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", str(state.limit)),
        ("X-RateLimit-Remaining", str(state.remaining)),
        ("X-RateLimit-Reset", str(state.reset)),
    ]


def _not_allowed() -> ApiError:
    return ApiError(405, "METHOD_NOT_ALLOWED", "This method is not allowed on this path")


def _precondition(message: str) -> ApiError:
    return ApiError(
        412,
        "PRECONDITION_FAILED",
        message,
        issues=[ErrorIssue("error", "multiple-matches", message).as_json()],
        fhir=True,
    )


def _need_body(body: Any) -> None:
    if body is _NO_BODY:
        raise ApiError(400, "INVALID_JSON", "A JSON request body is required")


def _search_error(err: Any) -> ApiError:
    status = int(getattr(err, "status", 400))
    if status == 404:
        return not_found()
    code = str(getattr(err, "code", "INVALID_PARAMETER"))
    message = str(getattr(err, "message", "Invalid search parameter"))
    issue = "forbidden" if status == 403 else "invalid"
    return ApiError(status, code, message, issues=[ErrorIssue("error", issue, message).as_json()], fhir=True)


def _split_ref(value: str, default_type: str) -> tuple[str, str]:
    if "/" in value:
        rtype, _, rid = value.partition("/")
        return rtype, rid
    return default_type, value


def _lenient(prefer: str | None) -> bool:
    return prefer is not None and "handling=lenient" in prefer.replace(" ", "").lower()


def _instant_param(value: str) -> str:
    """A FHIR dateTime/instant parameter in the store's instant format (UTC), else 400."""
    import datetime as dt

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
        raise ApiError(400, "INVALID_PARAMETER", "_since must be a FHIR instant or dateTime") from None
    return iso_instant(moment)


__all__ = ["REASONS", "Gateway", "Result"]
