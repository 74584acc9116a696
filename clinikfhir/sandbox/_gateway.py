"""The gateway: the rules in front of the FHIR server, one request handler for every front end.

It applies the gateway rules in order (fault injection, method-override rejection, body cap, key,
rate limit, scope, media type, idempotency), hands `/v1/fhir/...` to the :class:`FhirServer`, and
wraps every answer with `x-request-id`, `x-timestamp` and the rate-limit headers. Errors use the §8
envelope.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import sqlite3
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from clinikfhir._wire import MAX_BODY_BYTES

from ._capability import capability_statement
from ._clock import Clock, SystemClock
from ._fhir import NO_BODY, Caller, EntryHeaders, Kind, Principal, Result, interaction_kind
from ._http import (
    FHIR_JSON,
    PLAIN_JSON,
    REASONS,
    ErrorIssue,
    GatewayError,
    Request,
    Response,
    dumps,
    error_body,
    iso_instant,
    loads_exact,
    new_request_id,
    obj,
    parse_body,
)
from ._keys import KeyInfo, KeyRing
from ._limits import DEFAULT_IDEMPOTENCY_BYTES, Faults, IdempotencyCache, RateLimiter, RateState
from ._pages import PageSigner
from ._server import FhirServer
from ._store import OverBudget, Store

MAX_BODY = MAX_BODY_BYTES  # the request body cap (one definition: clinikfhir._wire)

JSON_TYPES = frozenset({"application/json", "application/fhir+json", "application/json-patch+json"})
FORM_TYPE = "application/x-www-form-urlencoded"
OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_METHODS = WRITE_METHODS | {"GET"}
ADMIN_PATH = "/_sandbox/faults"
DEFAULT_REQUEST_BUDGET = 10.0
"""Seconds of store work one request may use before it is stopped (504 UPSTREAM_TIMEOUT)."""
_FAULT_CODES = {
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "UPSTREAM_TIMEOUT",
}


@dataclass(slots=True)
class _Ctx:
    request_id: str
    extra: list[tuple[str, str]] = field(default_factory=lambda: [])
    delay: float = 0.0


class Gateway:
    """The ClinikAPI gateway in front of the FHIR server. Thread-safe.

    ``public_base_url`` is the origin every ``fullUrl`` and link is built on (never the Host header)."""

    def __init__(
        self,
        store: Store,
        keys: KeyRing,
        *,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        software_version: str = "0.1.0",
        clock: Clock | None = None,
        idempotency_bytes: int = DEFAULT_IDEMPOTENCY_BYTES,
        public_base_url: str = "http://localhost",
        request_budget: float | None = DEFAULT_REQUEST_BUDGET,
    ) -> None:
        if request_budget is not None and not (0 < request_budget < math.inf):
            raise ValueError("request_budget must be a positive number of seconds or None")
        self.request_budget = request_budget
        self.clock: Clock = clock or SystemClock()
        self.store = store
        self.keys = keys
        self.rate = RateLimiter(rate_limit, rate_window, self.clock)
        self.faults = Faults()
        self.idempotency = IdempotencyCache(max_bytes=idempotency_bytes, clock=self.clock)
        self.server = FhirServer(store, PageSigner(secrets.token_bytes(32)), keys.tenants)
        self.public_base_url = public_base_url
        self.software_version = software_version
        self.internal_errors: list[str] = []
        self._errors_lock = threading.Lock()
        self._capability: bytes | None = None

    # ------------------------------------------------------------------ entry point

    def handle(self, req: Request) -> Response:
        """Answer one request. Never raises."""
        ctx = _Ctx(new_request_id())
        try:
            with self.store.budget(self.request_budget):
                resp = self._handle(req, ctx)
        except GatewayError as err:
            resp = self._error(err, ctx)
        except OverBudget:
            resp = self._error(_over_budget(self.request_budget), ctx)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                resp = self._error(_over_budget(self.request_budget), ctx)
            else:
                resp = self._internal_error(ctx)
        except Exception:
            resp = self._internal_error(ctx)
        resp.headers.append(("x-request-id", ctx.request_id))
        resp.headers.append(("x-timestamp", iso_instant(self._now())[:-4] + "Z"))
        resp.headers.extend(ctx.extra)
        resp.delay = max(resp.delay, ctx.delay)
        return resp

    def _internal_error(self, ctx: _Ctx) -> Response:
        with self._errors_lock:
            self.internal_errors.append(traceback.format_exc())
        return self._error(GatewayError(500, "INTERNAL_ERROR", "An unexpected error occurred"), ctx)

    def _error(self, err: GatewayError, ctx: _Ctx) -> Response:
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
            raise GatewayError(
                status,
                _FAULT_CODES[status],
                "Injected failure: try again later",
                headers=[("Retry-After", str(retry_after))],
            )
        for name in OVERRIDE_HEADERS:
            if req.header(name) is not None:
                raise GatewayError(400, "METHOD_OVERRIDE_REJECTED", "Method-override headers are not accepted")
        if len(req.body) > MAX_BODY:
            raise GatewayError(413, "PAYLOAD_TOO_LARGE", "The request body exceeds 1 MiB")
        method = req.method.upper()
        if method not in ALLOWED_METHODS:
            raise GatewayError(405, "METHOD_NOT_ALLOWED", "Use GET, POST, PUT, PATCH or DELETE")
        if path == "/health":
            if method != "GET":
                raise GatewayError(405, "METHOD_NOT_ALLOWED", "Only GET is allowed here")
            return Response(
                200, [("Content-Type", PLAIN_JSON)], dumps({"status": "ok", "timestamp": iso_instant(self._now())})
            )
        if path in ("/v1/metadata", "/v1/fhir/metadata"):
            if method != "GET":
                raise GatewayError(405, "METHOD_NOT_ALLOWED", "Only GET is allowed here")
            return Response(200, [("Content-Type", FHIR_JSON)], self.capability())
        if not (path == "/v1" or path.startswith("/v1/")):
            raise GatewayError(404, "NOT_FOUND", "No such route")
        info = self.keys.authenticate(req.header("x-api-key"))
        state = self.rate.hit(info.tenant)
        if state is not None:
            ctx.extra.extend(_rate_headers(state))
            if not state.allowed:
                raise GatewayError(
                    429,
                    "RATE_LIMITED",
                    "Rate limit exceeded: too many requests for this organisation",
                    headers=[("Retry-After", str(state.reset))],
                )
        if not (path == "/v1/fhir" or path.startswith("/v1/fhir/")):
            self._authorize(info, "read" if method == "GET" else "write")
            raise GatewayError(404, "NOT_FOUND", "No such route")
        raw_segments = path[len("/v1/fhir") :].lstrip("/").split("/") if path != "/v1/fhir" else []
        if raw_segments and raw_segments[-1] == "":
            raw_segments = raw_segments[:-1]
        segments = [unquote(s) for s in raw_segments]
        kind = interaction_kind(method, segments)
        self._authorize(info, kind)
        for seg in segments:
            if seg.strip(".") == "":
                raise GatewayError(400, "INVALID_PARAMETER", "Path segments may not be empty or consist of dots only")
        pairs = parse_qsl(req.query, keep_blank_values=True)
        for name, value in pairs:
            if name == "_format" and "xml" in value.lower():
                raise GatewayError(415, "UNSUPPORTED_MEDIA_TYPE", "Only JSON is supported")
        pairs = [(n, v) for n, v in pairs if n not in ("_format", "_pretty")]
        caller = Caller(info.env, info.tenant)
        body: Any = NO_BODY
        form = False
        if method in WRITE_METHODS and req.body.strip():
            ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
            if ctype == FORM_TYPE and len(segments) == 2 and segments[1] == "_search":
                form = True
            elif ctype and ctype not in JSON_TYPES:
                raise GatewayError(
                    415, "UNSUPPORTED_MEDIA_TYPE", "Send JSON: application/fhir+json or application/json"
                )
            if not form:
                body = parse_body(req.body)
        if form:
            pairs = pairs + parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        hdrs = EntryHeaders(req.header("if-match"), req.header("if-none-exist"), req.header("prefer"))
        who = Principal(caller, self.public_base_url.rstrip("/"), lambda need: self._authorize(info, need))

        def run() -> Result:
            return self.server.route(who, method, segments, pairs, body, hdrs)

        idem_key = req.header("idempotency-key")
        if idem_key is not None and method in ("POST", "PATCH") and kind == "write":
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
            raise GatewayError(400, "INVALID_PARAMETER", "Idempotency-Key must have 1-255 characters")
        scope = (caller.env, caller.tenant, method, target, key)
        digest = self.idempotency.digest(raw)
        with self.idempotency.slot(scope):
            stored = self.idempotency.get(scope)
            if stored is not None:
                if stored.digest != digest:
                    raise GatewayError(
                        409, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with a different body"
                    )
                headers = [h for h in stored.headers if h[0] != "Content-Type"]
                ctype = next((v for k, v in stored.headers if k == "Content-Type"), FHIR_JSON)
                return Result(stored.status, stored.body, [*headers, ("Idempotent-Replayed", "true")], None, ctype)
            try:
                result = run()
            except GatewayError as err:
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
    def _authorize(info: KeyInfo, need: Kind) -> None:
        """The scope rule (gateway.md §2): ``read`` keys only read, ``write`` keys only write."""
        if info.scope != "*" and info.scope != need:
            raise GatewayError(403, "FORBIDDEN", f"The API key does not have the {need} scope")

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.time(), dt.UTC)

    def capability(self) -> bytes:
        """The CapabilityStatement (built once)."""
        if self._capability is None:
            self._capability = capability_statement(self.software_version)
        return self._capability

    # ------------------------------------------------------------------ admin (loopback only)

    def _admin(self, req: Request) -> Response:
        if not req.loopback:
            raise GatewayError(404, "NOT_FOUND", "No such route")
        if req.method.upper() == "GET":
            return Response(200, [("Content-Type", PLAIN_JSON)], dumps(self.faults.pending()))
        if req.method.upper() != "POST":
            raise GatewayError(405, "METHOD_NOT_ALLOWED", "Use GET or POST")
        try:
            spec = obj(loads_exact(req.body or b"{}"))
        except ValueError:
            raise GatewayError(400, "INVALID_JSON", "The request body is not valid JSON") from None
        if spec is None:
            raise GatewayError(400, "INVALID_PARAMETER", "Send a JSON object")
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
            raise GatewayError(
                400,
                "INVALID_PARAMETER",
                "Expected fail_next/status/retry_after/drop_after_commit integers, latency a number, reset a boolean",
            ) from None
        return Response(200, [("Content-Type", PLAIN_JSON)], dumps(self.faults.pending()))


def _over_budget(budget: float | None) -> GatewayError:
    message = (
        f"The request needed more than its {budget:g} s time budget and was stopped"
        " (a transaction or single write is rolled back)"
    )
    return GatewayError(504, "UPSTREAM_TIMEOUT", message, issues=[ErrorIssue("error", "too-costly", message).as_json()])


def _rate_headers(state: RateState) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", str(state.limit)),
        ("X-RateLimit-Remaining", str(state.remaining)),
        ("X-RateLimit-Reset", str(state.reset)),
    ]


__all__ = ["REASONS", "Gateway"]
