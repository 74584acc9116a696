"""The sans-IO core shared by :class:`~clinikfhir.Clinik` and :class:`~clinikfhir.AsyncClinik`.

Everything that is not sending bytes lives here, once: checking ids and arguments, the tenant guard,
building each operation's :class:`Call` (method, path, body, headers, how to read the answer),
turning a :class:`Call` into an ``httpx.Request``, turning an ``httpx.Response`` into a typed result
or a typed error, and the retry loop as a state machine (:class:`Exchange`) the shells drive.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import httpx
import orjson

from clinikfhir import __version__
from clinikfhir._config import Config, origin_of
from clinikfhir._log import install_httpx_filter, log_failure, log_response, log_retry, log_validation_issues
from clinikfhir._meta import ResponseMeta
from clinikfhir._wire import ID_PATTERN, MAX_BODY_BYTES, TENANT_SYSTEM
from clinikfhir.bundle import BundleResponse, Page, Transaction, to_model, type_name
from clinikfhir.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ErrorIssue,
    ForbiddenError,
    IdempotencyConflictError,
    InvalidArgumentError,
    InvalidResponseError,
    LocalValidationError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServerValidationError,
    TenantConflictError,
    TenantGuardError,
    VersionConflictError,
    redact,
)
from clinikfhir.patch import JsonPatch, touches_tenant_tag

if TYPE_CHECKING:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    from fhir.resources.R4B.operationoutcome import OperationOutcome
    from fhir.resources.R4B.resource import Resource

    from clinikfhir.validation import Issue

T = TypeVar("T")
R = TypeVar("R", bound="Resource")

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
_OP_NAME = re.compile(r"^\$?[A-Za-z][A-Za-z0-9_-]*$")
_QUOTA_CODES = frozenset({"MONTHLY_QUOTA_EXCEEDED", "SANDBOX_QUOTA_EXCEEDED"})

ParamsLike = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


# ------------------------------------------------------------------------------------ argument checks


def _text(value: object) -> bool:
    """A non-empty str (callers may not be type-checked, so arguments are checked at run time)."""
    return isinstance(value, str) and bool(value)


def check_id(value: object, what: str = "id") -> str:
    """An id as the vendor SDK allows it (``[A-Za-z0-9._-]{1,128}``) minus ``.`` and ``..``."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    if not ID_PATTERN.fullmatch(value) or value in (".", ".."):
        reason = (
            "longer than 128 characters" if len(value) > 128 else "only letters, digits, '-', '_' and '.' are allowed"
        )
        raise InvalidArgumentError(f"{what} is not a valid resource id: {reason}")
    return value


def _header_safe(value: str) -> bool:
    """Printable ASCII only: a header value can never smuggle a line break."""
    return all(32 <= ord(c) < 127 for c in value)


def check_id_like_query(query: str) -> str:
    """A conditional-create query (``identifier=...``) must not filter on the tenant tag."""
    if not _text(query) or not _header_safe(query):
        raise InvalidArgumentError("if_none_exist must be a search query such as 'identifier=system|value'")
    guard_params(list(httpx.QueryParams(query).multi_items()))
    return query


def etag_for(resource: Resource, if_match: str | bool) -> str | None:
    """The ``If-Match`` value: ``W/"<meta.versionId>"`` when True (None if the resource has no version)."""
    if if_match is False:
        return None
    if if_match is True:
        version = resource.meta.versionId if resource.meta is not None else None
        return f'W/"{version}"' if version else None
    if not _text(if_match) or not _header_safe(if_match):
        raise InvalidArgumentError("if_match must be a version id, an ETag, True or False")
    if if_match.isalnum():
        return f'W/"{if_match}"'
    return if_match


def resource_json(resource: Resource) -> dict[str, Any]:
    """A model as JSON (dict), through the model layer's serialiser."""
    from clinikfhir.models import decode, dump_bytes

    data = decode(dump_bytes(resource))
    if not isinstance(data, dict):  # pragma: no cover - dump always writes an object
        raise InvalidArgumentError("the resource did not serialise to a JSON object")
    return cast("dict[str, Any]", data)


def _encode(data: Any) -> bytes:
    from clinikfhir.models import encode

    try:
        body = encode(data)  # Decimal values are written digit for digit
    except TypeError as exc:
        raise InvalidArgumentError(f"the body cannot be sent as JSON ({exc})") from None
    return _cap(body)


def _cap(body: bytes) -> bytes:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidArgumentError(
            f"the request body is {len(body)} bytes; the gateway accepts at most {MAX_BODY_BYTES}"
        )
    return body


def tenant_codes(data: Any) -> list[str]:
    """The tenant-tag codes in a resource's JSON ``meta.tag`` (normally zero or one)."""
    if not isinstance(data, dict):
        return []
    meta = cast("dict[str, Any]", data).get("meta")
    if not isinstance(meta, dict):
        return []
    tags = cast("dict[str, Any]", meta).get("tag")
    if not isinstance(tags, list):
        return []
    return [
        str(cast("dict[str, Any]", t).get("code"))
        for t in cast("list[object]", tags)
        if isinstance(t, dict) and cast("dict[str, Any]", t).get("system") == TENANT_SYSTEM
    ]


def _check_tenant_tags(codes: Sequence[str | None], *, create: bool, where: str) -> None:
    """Tenant-system tag codes on a written resource: none on a create, at most one on an update."""
    if not codes:
        return
    if create:
        raise TenantGuardError(
            f"{where}.meta.tag carries a tag of the tenant system {TENANT_SYSTEM}: a create may not carry one; "
            "the gateway owns tenancy and tags every resource it stores itself: remove the tag"
        )
    if len(codes) > 1:
        raise TenantGuardError(
            f"{where}.meta.tag carries {len(codes)} tags of the tenant system {TENANT_SYSTEM}; a resource as read "
            "carries exactly one, and the gateway owns tenancy: keep only the tag it was read with"
        )


def guard_params(params: Sequence[tuple[str, str]]) -> None:
    """Refuse a search that filters on the tenant tag (the gateway appends that filter itself): the
    builder's own verdict, :func:`clinikfhir.search._tenant.guard_tenant_params`."""
    from clinikfhir.search._tenant import guard_tenant_params

    guard_tenant_params(params)


def normalise_params(params: ParamsLike) -> list[tuple[str, str]]:
    """Query parameters as ordered (name, value) pairs; None values skipped, booleans as true/false."""
    if params is None:
        return []
    items: list[tuple[str, Any]] = []
    if isinstance(params, Mapping):
        for k, v in params.items():
            if isinstance(v, (list, tuple)):
                items.extend((k, x) for x in cast("Sequence[Any]", v))
            else:
                items.append((k, v))
    else:
        items = list(params)
    out: list[tuple[str, str]] = []
    for name, value in items:
        if not _text(name):
            raise InvalidArgumentError("search parameter names must be non-empty strings")
        if value is None:
            continue
        out.append((name, "true" if value is True else "false" if value is False else str(value)))
    return out


def clean_path(path: str) -> tuple[str, list[tuple[str, str]]]:
    """The raw ``request()`` path, checked: no scheme, no dot segments, no fragment; query split off."""
    if not _text(path) or not path.strip():
        raise InvalidArgumentError("path must be a non-empty string such as '/Patient/123'")
    path = path.strip()
    if "://" in path or path.startswith("//") or "\\" in path or "#" in path or any(ord(c) < 33 for c in path):
        raise InvalidArgumentError(
            "path must be a relative FHIR path such as '/Patient/123' (no scheme, host or fragment)"
        )
    if not path.startswith("/"):
        path = "/" + path
    raw_path, _, query = path.partition("?")
    segments = raw_path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        raise InvalidArgumentError("path must not contain '.' or '..' segments")
    return raw_path, list(httpx.QueryParams(query).multi_items()) if query else []


# --------------------------------------------------------------------------------- request plumbing


@dataclass
class Call(Generic[T]):
    """One logical API call: what to send and how to read the answer (``parse``)."""

    method: str
    path: str
    resource_type: str
    parse: Callable[[httpx.Response, ResponseMeta], T]
    params: list[tuple[str, str]] = field(default_factory=lambda: [])
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=lambda: {})
    auth: bool = True
    retry_safe: bool | None = None  # None: decided by method and Idempotency-Key
    url: httpx.URL | None = None  # an already-checked absolute URL (next links)
    search: list[tuple[str, str]] | None = None  # a search's parameters (GET query or POST form)
    validation_issues: tuple[Issue, ...] = ()  # a write's non-blocking local validation issues


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """The call finished with ``value``."""

    value: T


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep ``seconds`` then send the same request again."""

    seconds: float


def _decode(response: httpx.Response, meta: ResponseMeta) -> Any:
    content = response.content
    if not content.strip():
        raise InvalidResponseError(
            f"empty response body (HTTP {meta.status})", status=meta.status, request_id=meta.request_id
        )
    from clinikfhir.models import JSONDecodeFailure, decode

    try:
        return decode(content)  # exact: a decimal keeps its digits (1.50 stays 1.50)
    except (JSONDecodeFailure, orjson.JSONDecodeError, ValueError, RecursionError):
        raise InvalidResponseError(
            f"the response body is not valid JSON (HTTP {meta.status}; truncated or not JSON)",
            status=meta.status,
            request_id=meta.request_id,
        ) from None


def _issues(body: dict[str, Any]) -> list[ErrorIssue]:
    raw = body.get("issues")
    if not isinstance(raw, list) or not raw:
        raw = body.get("issue")
    if not isinstance(raw, list):
        return []
    out: list[ErrorIssue] = []
    for item in cast("list[object]", raw):
        if not isinstance(item, dict):
            continue
        i = cast("dict[str, Any]", item)
        expr: object = i.get("expression") or i.get("location") or []
        diag = i.get("diagnostics")
        if not isinstance(diag, str):
            details = i.get("details")
            diag = cast("dict[str, Any]", details).get("text", "") if isinstance(details, dict) else ""
        out.append(
            ErrorIssue(
                severity=str(i.get("severity", "error")),
                code=str(i.get("code", "")),
                diagnostics=redact(str(diag)),
                expression=tuple(str(e) for e in cast("list[object]", expr)) if isinstance(expr, list) else (),
            )
        )
    return out


def error_from_response(response: httpx.Response, meta: ResponseMeta) -> ApiError:
    """The typed error for an error status; works on any body, including HTML or truncated ones."""
    status = response.status_code
    body: dict[str, Any] = {}
    try:
        decoded = orjson.loads(response.content) if response.content else None
        if isinstance(decoded, dict):
            body = cast("dict[str, Any]", decoded)
    except orjson.JSONDecodeError:
        pass
    raw_code = body.get("code")
    code = raw_code if isinstance(raw_code, str) else ""
    issues = _issues(body)
    message = body.get("message") or body.get("error")
    if not isinstance(message, str) or not message:
        message = issues[0].diagnostics if issues else f"HTTP {status} {response.reason_phrase}".strip()
    request_id = meta.request_id or (body.get("requestId") if isinstance(body.get("requestId"), str) else "") or ""
    kwargs: dict[str, Any] = {"status": status, "code": code, "request_id": request_id, "issues": issues, "meta": meta}
    cls: type[ApiError]
    if status == 400:
        cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = TenantConflictError if code == "TENANT_CONFLICT" else ForbiddenError
    elif status in (404, 410):
        cls = NotFoundError
    elif status == 409:
        cls = {"VERSION_CONFLICT": VersionConflictError, "IDEMPOTENCY_KEY_REUSED": IdempotencyConflictError}.get(
            code, ConflictError
        )
    elif status == 412:
        cls = VersionConflictError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status == 422:
        cls = ServerValidationError
    elif status == 429:
        return (QuotaExceededError if code in _QUOTA_CODES else RateLimitError)(
            message, retry_after=meta.retry_after, **kwargs
        )
    elif status >= 500:
        cls = ServerError
    else:
        cls = ApiError
    return cls(message, **kwargs)


class Exchange(Generic[T]):
    """The retry loop of one call as a state machine; the shells only send and sleep.

    ``begin()`` gives the request for the next attempt; ``on_response`` / ``on_error`` return
    :class:`Done` or :class:`Wait`, or raise the typed error.
    """

    def __init__(self, core: CoreClient, call: Call[T]) -> None:
        self.core = core
        self.call = call
        self.policy = core.config.retry
        self.request = core.build_request(call)
        self.retry_safe = (
            call.retry_safe
            if call.retry_safe is not None
            else self.policy.may_retry_method(call.method, "idempotency-key" in self.request.headers)
        )
        self.started = time.monotonic()
        self.attempt = 0
        log_validation_issues(call.method, call.resource_type, call.validation_issues)
        self._attempt_started = self.started

    def begin(self) -> httpx.Request:
        """The request for the next attempt (the same object every time: same body, same Idempotency-Key)."""
        self.attempt += 1
        self._attempt_started = time.monotonic()
        return self.request

    def _wait(self, retry_after: float | None) -> float | None:
        if not self.retry_safe or self.attempt > self.policy.max_retries:
            return None
        wait = self.policy.backoff(self.attempt - 1, retry_after)
        if time.monotonic() - self.started + wait > self.policy.deadline:
            return None
        log_retry(self.call.method, self.call.resource_type, wait, self.attempt)
        return wait

    def on_response(self, response: httpx.Response) -> Done[T] | Wait:
        """Interpret a complete response."""
        now = time.monotonic()
        meta = ResponseMeta.from_response(
            response,
            method=self.call.method,
            resource_type=self.call.resource_type,
            attempts=self.attempt,
            elapsed=now - self.started,
            validation_issues=self.call.validation_issues,
        )
        log_response(
            self.call.method,
            self.call.resource_type,
            meta.status,
            now - self._attempt_started,
            meta.request_id,
            self.attempt,
        )
        self.core.remember(meta)
        status = response.status_code
        if 200 <= status < 300:
            return Done(self.call.parse(response, meta))
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"unexpected redirect (HTTP {status}); not followed, so the API key stays with the configured origin",
                status=status,
                request_id=meta.request_id,
            )
        error = error_from_response(response, meta)
        if self.policy.retryable_status(status, error.code):
            wait = self._wait(meta.retry_after)
            if wait is not None:
                return Wait(wait)
        raise error

    def on_error(self, exc: Exception) -> Wait:
        """Interpret a failure to get a response (an ``httpx.RequestError``)."""
        elapsed = time.monotonic() - self._attempt_started
        log_failure(self.call.method, self.call.resource_type, type(exc).__name__, elapsed, self.attempt)
        if isinstance(exc, httpx.DecodingError):
            raise InvalidResponseError("the response body could not be decoded (content encoding)") from None
        retryable = isinstance(exc, httpx.TransportError)
        if retryable:
            wait = self._wait(None)
            if wait is not None:
                return Wait(wait)
        where = f"{self.call.method} {self.call.resource_type or 'request'}"
        attempts = f" after {self.attempt} attempt(s)"
        if isinstance(exc, httpx.TimeoutException):
            raise RequestTimeoutError(
                f"{where} timed out{attempts} (timeout {self.core.config.timeout:g} s per attempt)"
            ) from None
        # Only the class name: httpx messages can embed URLs, which may carry search values.
        raise NetworkError(f"{where} failed{attempts}: {type(exc).__name__}") from None


# ------------------------------------------------------------------------------------- the core


class CoreClient:
    """Configuration, tenant memory, response metadata and every operation's :class:`Call`.

    Subclassed by the sync and async shells, which add only ``_send`` and the public methods.
    """

    config: Config
    #: check every search against the server's CapabilityStatement before sending it
    check_search_capabilities: bool = False

    def __init__(self, config: Config) -> None:
        install_httpx_filter()  # httpx logs full URLs (search values, ids) at INFO: redact them
        self.config = config
        self._capabilities: CapabilityStatement | None = None
        self._timeout = httpx.Timeout(config.timeout).as_dict()
        self._user_agent = f"clinikfhir/{__version__}"
        self._root = config.root
        self._origin = config.origin
        # Per thread / per asyncio task: concurrent calls each see their own last response.
        self._last: ContextVar[ResponseMeta | None] = ContextVar(f"clinik_last_response_{id(self)}", default=None)

    # --- metadata

    @property
    def last_response(self) -> ResponseMeta | None:
        """Metadata (request id, rate limits, ETag/version, status, attempts) of the last call made by
        this client in the current thread or asyncio task, successful or not."""
        return self._last.get()

    def remember(self, meta: ResponseMeta) -> None:
        """Record ``meta`` as the last response (called by :class:`Exchange`)."""
        self._last.set(meta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.config.root!r}, api_key={self.config.api_key!r})"

    # --- request building

    def build_request(self, call: Call[Any]) -> httpx.Request:
        """The ``httpx.Request`` for ``call``; the key is attached only for the configured origin."""
        url = call.url if call.url is not None else httpx.URL(self._root + call.path)
        if call.url is None and call.params:
            url = url.copy_merge_params(httpx.QueryParams(tuple(call.params)))
        headers = {"accept": FHIR_JSON, "user-agent": self._user_agent}
        if call.auth:
            if origin_of(url) != self._origin:  # defensive: every URL is built from the base
                raise InvalidArgumentError("refusing to send the API key to a different origin")
            headers["x-api-key"] = self.config.api_key.reveal()
        if call.body is not None:
            headers["content-type"] = call.content_type or FHIR_JSON
        if call.method in ("POST", "PATCH"):
            headers["idempotency-key"] = uuid.uuid4().hex
        headers.update(call.headers)
        return httpx.Request(
            call.method, url, headers=headers, content=call.body, extensions={"timeout": self._timeout}
        )

    # --- tenant guard

    @staticmethod
    def guard_resource(resource: Resource, *, create: bool, where: str = "") -> None:
        """The tenant guard on a written resource; the gateway owns tenancy (gateway.md §7.5).

        A create may carry no tag of the tenant system at all. An update may carry the one tenant tag
        the resource was read with (the gateway checks it is the caller's own), never several.
        """
        meta = resource.meta
        tags = [t.code for t in (meta.tag or []) if t.system == TENANT_SYSTEM] if meta is not None else []
        _check_tenant_tags(tags, create=create, where=where or type_name(type(resource)))

    @staticmethod
    def _guard_json_body(body: Any, *, create: bool) -> None:
        if isinstance(body, list):
            for op in cast("list[object]", body):
                if isinstance(op, dict):
                    o = cast("dict[str, Any]", op)
                    for key in ("path", "from"):
                        p = o.get(key)
                        if isinstance(p, str) and touches_tenant_tag(p) and o.get("op") != "test":
                            raise TenantGuardError(
                                "a patch touching /meta/tag is refused: the gateway owns the tenant tag"
                            )
        elif isinstance(body, dict):
            data = cast("dict[str, Any]", body)
            _check_tenant_tags(tenant_codes(data), create=create, where=str(data.get("resourceType") or "the body"))

    # --- local validation

    def _validate(self, resource: Resource | dict[str, Any], validate: bool | None) -> tuple[Issue, ...]:
        """Raise :class:`LocalValidationError` on blocking issues; return the others (reported, not dropped)."""
        if validate is False or (validate is None and not self.config.validate_writes):
            return ()
        from clinikfhir.validation import validate as run_validation

        issues = run_validation(resource)
        blocking = [i for i in issues if i.is_error or (self.config.reject_warnings and i.severity == "warning")]
        if blocking:
            name = str(resource.get("resourceType")) if isinstance(resource, dict) else type_name(type(resource))
            raise LocalValidationError(name, issues, blocking=blocking)
        return tuple(issues)

    # --- answer readers

    def _strict(self, strict: bool | None) -> bool:
        return self.config.strict if strict is None else strict

    def _reader(self, model: type[R], strict: bool | None = None) -> Callable[[httpx.Response, ResponseMeta], R]:
        full = self._strict(strict)

        def read(response: httpx.Response, meta: ResponseMeta) -> R:
            data = _decode(response, meta)
            return to_model(data, model, strict=full, request_id=meta.request_id)

        return read

    def _page_reader(
        self, model: type[R], strict: bool | None = None, *, posted_type: str | None = None
    ) -> Callable[[httpx.Response, ResponseMeta], Page[R]]:
        full = self._strict(strict)

        def read(response: httpx.Response, meta: ResponseMeta) -> Page[R]:
            data = _decode(response, meta)
            if not isinstance(data, dict):
                raise InvalidResponseError("expected a Bundle", request_id=meta.request_id)
            return Page(model, cast("dict[str, Any]", data), meta, strict=full, posted_type=posted_type)

        return read

    def _any_reader(self, response: httpx.Response, meta: ResponseMeta) -> Resource | None:
        from fhir.resources.R4B.resource import Resource

        if response.status_code == 204 or not response.content.strip():
            return None
        data = _decode(response, meta)
        return to_model(data, Resource, strict=self.config.strict, request_id=meta.request_id)

    @staticmethod
    def _nothing(response: httpx.Response, meta: ResponseMeta) -> None:
        return None

    # --- calls: one builder per operation

    def _path(self, model: type[Resource], *parts: str) -> str:
        name = type_name(model)
        if name in ("Resource", "DomainResource"):
            raise InvalidArgumentError("pass a concrete resource class such as Patient, not the Resource base")
        return "/v1/fhir/" + "/".join((name, *parts))

    def call_read(self, model: type[R], id: str, *, strict: bool | None = None) -> Call[R]:
        """GET /v1/fhir/{Type}/{id}."""
        return Call("GET", self._path(model, check_id(id)), type_name(model), self._reader(model, strict))

    def call_vread(self, model: type[R], id: str, version_id: str, *, strict: bool | None = None) -> Call[R]:
        """GET /v1/fhir/{Type}/{id}/_history/{vid}."""
        path = self._path(model, check_id(id), "_history", check_id(version_id, "version_id"))
        return Call("GET", path, type_name(model), self._reader(model, strict))

    def call_create(self, resource: R, *, validate: bool | None, if_none_exist: str | None) -> Call[R]:
        """POST /v1/fhir/{Type} after local validation and the tenant guard."""
        model = type(resource)
        self.guard_resource(resource, create=True)
        issues = self._validate(resource, validate)
        headers = {"if-none-exist": check_id_like_query(if_none_exist)} if if_none_exist else {}
        from clinikfhir.models import dump_bytes

        body = _cap(dump_bytes(resource))
        return Call(
            "POST",
            self._path(model),
            type_name(model),
            self._reader(model),
            body=body,
            headers=headers,
            validation_issues=issues,
        )

    def call_update(self, resource: R, *, if_match: str | bool, validate: bool | None) -> Call[R]:
        """PUT /v1/fhir/{Type}/{id} with If-Match from meta.versionId by default."""
        model = type(resource)
        rid = check_id(resource.id, f"{type_name(model)}.id")
        self.guard_resource(resource, create=False)
        issues = self._validate(resource, validate)
        etag = etag_for(resource, if_match)
        from clinikfhir.models import dump_bytes

        body = _cap(dump_bytes(resource))
        headers = {"if-match": etag} if etag else {}
        return Call(
            "PUT",
            self._path(model, rid),
            type_name(model),
            self._reader(model),
            body=body,
            headers=headers,
            validation_issues=issues,
        )

    def call_patch(
        self, model: type[R], id: str, patch: JsonPatch | Sequence[Mapping[str, Any]], *, if_match: str | None
    ) -> Call[R]:
        """PATCH /v1/fhir/{Type}/{id} with an RFC 6902 body (paths checked against ``model``)."""
        if not isinstance(patch, JsonPatch):
            given = cast(object, patch)
            if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
                raise InvalidArgumentError("patch must be a JsonPatch or a list of operation dicts")
            patch = JsonPatch(None, patch)
        patch = cast("JsonPatch[Any]", patch)  # type: ignore[redundant-cast]  # pyright sees JsonPatch[Unknown]
        if not len(patch):
            raise InvalidArgumentError("an empty patch changes nothing")
        patch.check(model)
        headers = {"if-match": etag_for_str(if_match)} if if_match else {}
        return Call(
            "PATCH",
            self._path(model, check_id(id)),
            type_name(model),
            self._reader(model),
            body=_encode(patch.operations),
            content_type=JSON_PATCH,
            headers=headers,
        )

    def call_delete(self, model: type[Resource], id: str, *, if_match: str | None) -> Call[None]:
        """DELETE /v1/fhir/{Type}/{id}."""
        headers = {"if-match": etag_for_str(if_match)} if if_match else {}
        return Call("DELETE", self._path(model, check_id(id)), type_name(model), self._nothing, headers=headers)

    def call_history(
        self, model: type[R], id: str | None, *, count: int | None, since: str | None, strict: bool | None = None
    ) -> Call[Page[R]]:
        """GET /v1/fhir/{Type}[/{id}]/_history."""
        path = self._path(model, check_id(id), "_history") if id is not None else self._path(model, "_history")
        params = normalise_params({"_count": count, "_since": since})
        return Call("GET", path, type_name(model), self._page_reader(model, strict), params=params)

    def call_search(
        self, model: type[R], params: ParamsLike, *, post: bool = False, resource_type: str | None = None
    ) -> Call[Page[R]]:
        """GET /v1/fhir/{Type}?... (or POST {Type}/_search with a form body).

        ``resource_type`` names the type when ``model`` is :class:`GenericResource` (R4-only types).
        """
        pairs = normalise_params(params)
        guard_params(pairs)
        name = self._search_type(model, resource_type)
        if post:
            return self._post_search(model, name, pairs, None)
        return Call("GET", f"/v1/fhir/{name}", name, self._page_reader(model), params=pairs, search=pairs)

    def check_search_call(self, capabilities: CapabilityStatement, call: Call[Any]) -> None:
        """Raise :class:`~clinikfhir.search.UnsupportedSearchError` if ``capabilities`` does not support
        the search ``call`` (the builder's own checker, on the raw parameter list)."""
        from clinikfhir.search._capabilities import UnsupportedSearchError, problems_for

        problems = problems_for(capabilities, call.resource_type, call.search or [])
        if problems:
            raise UnsupportedSearchError(call.resource_type, problems)

    def _post_search(
        self, model: type[R], name: str, pairs: list[tuple[str, str]], strict: bool | None
    ) -> Call[Page[R]]:
        """``POST [type]/_search`` with the parameters as a form body: no value in the URL."""
        body = str(httpx.QueryParams(tuple(pairs))).encode()
        return Call(
            "POST",
            f"/v1/fhir/{name}/_search",
            name,
            self._page_reader(model, strict, posted_type=name),
            body=_cap(body),
            content_type="application/x-www-form-urlencoded",
            retry_safe=True,
            search=pairs,
        )

    def _search_type(self, model: type[Resource], resource_type: str | None) -> str:
        name = type_name(model)
        if resource_type is None or resource_type == name:
            self._path(model)  # refuses the open base classes
            return name
        from clinikfhir._generated.resource_types import R4_ONLY_TYPES

        if name != "Resource" or resource_type not in R4_ONLY_TYPES:
            raise InvalidArgumentError(f"resource_type {resource_type!r} does not match the model {model.__name__}")
        return resource_type

    def call_next(self, page: Page[R]) -> Call[Page[R]] | None:
        """GET the page's ``next`` link, only if it stays on the configured origin and API path."""
        link = page.next_url
        if link is None:
            return None
        try:
            url = httpx.URL(self.config.root + "/").join(link)
        except (httpx.InvalidURL, TypeError):
            raise InvalidResponseError("the next link is not a valid URL", request_id=page.meta.request_id) from None
        base_path = self.config.base_url.path.rstrip("/")
        if origin_of(url) != self.config.origin or not url.path.startswith(base_path + "/v1/fhir/"):
            raise InvalidResponseError(
                "the next link points outside the configured base URL; not followed "
                "(the API key is only ever sent to the configured origin)",
                request_id=page.meta.request_id,
            )
        if url.userinfo or ".." in url.path.split("/"):
            raise InvalidResponseError("the next link is malformed; not followed", request_id=page.meta.request_id)
        model = page.model
        if page.posted_type is not None:
            # a search sent as POST stays a POST: the link's query goes into the form body, never the URL
            pairs = list(url.params.multi_items())
            guard_params(pairs)
            return self._post_search(model, page.posted_type, pairs, page.strict)
        return Call("GET", url.path, type_name(model), self._page_reader(model, page.strict), url=url)

    def call_operation(
        self,
        name: str,
        *,
        model: type[Resource] | None,
        id: str | None,
        parameters: Resource | Mapping[str, Any] | None,
        params: ParamsLike,
        method: str,
        result: type[R] | None,
    ) -> Call[Any]:
        """``$op`` at system-less type or instance level, GET (query) or POST (Parameters/resource body)."""
        if not _text(name) or not _OP_NAME.fullmatch(name):
            raise InvalidArgumentError("operation name must look like '$everything' or 'validate'")
        op = name if name.startswith("$") else "$" + name
        method = method.upper()
        if method not in ("GET", "POST"):
            raise InvalidArgumentError("operations are invoked with GET or POST")
        if model is None:
            if id is not None:
                raise InvalidArgumentError("an instance-level operation needs the model as well as the id")
            raise InvalidArgumentError("pass model=... (system-level operations are not supported by the gateway)")
        path = self._path(model, check_id(id), op) if id is not None else self._path(model, op)
        pairs = normalise_params(params)
        guard_params(pairs)
        body: bytes | None = None
        if parameters is not None:
            if method == "GET":
                raise InvalidArgumentError("a GET operation takes params=..., not a body")
            from fhir.resources.R4B.resource import Resource as _Resource

            if isinstance(parameters, _Resource):
                self.guard_resource(parameters, create=False)
                data = resource_json(parameters)
            else:
                data = dict(parameters)
                self._guard_json_body(data, create=False)
            body = _encode(data)
        elif method == "POST":
            body = _encode({"resourceType": "Parameters"})
        reader: Callable[[httpx.Response, ResponseMeta], Any] = (
            self._reader(result) if result is not None else self._any_reader
        )
        return Call(method, path, type_name(model), reader, params=pairs, body=body)

    def call_everything(
        self, model: type[Resource], id: str, params: ParamsLike, *, strict: bool | None = None
    ) -> Call[Page[Resource]]:
        """GET /v1/fhir/{Type}/{id}/$everything as a page of any resource types."""
        from fhir.resources.R4B.resource import Resource

        pairs = normalise_params(params)
        guard_params(pairs)
        return Call(
            "GET",
            self._path(model, check_id(id), "$everything"),
            type_name(model),
            self._page_reader(Resource, strict),
            params=pairs,
        )

    def call_validate(self, resource: Resource) -> Call[OperationOutcome]:
        """POST /v1/fhir/{Type}/$validate with the resource; the server's verdict as an OperationOutcome."""
        from fhir.resources.R4B.operationoutcome import OperationOutcome

        model = type(resource)
        reader = self._reader(OperationOutcome)

        def read(response: httpx.Response, meta: ResponseMeta) -> OperationOutcome:
            return reader(response, meta)

        return Call(
            "POST",
            self._path(model, "$validate"),
            type_name(model),
            read,
            body=_encode(resource_json(resource)),
            retry_safe=True,
        )

    def call_capabilities(self) -> Call[CapabilityStatement]:
        """GET /v1/metadata without the key."""
        from fhir.resources.R4B.capabilitystatement import CapabilityStatement

        return Call("GET", "/v1/metadata", "CapabilityStatement", self._reader(CapabilityStatement), auth=False)

    def call_bundle(
        self, kind: str, tx: Transaction | Sequence[Resource], *, validate: bool | None
    ) -> Call[BundleResponse]:
        """POST /v1/fhir with a transaction or batch Bundle (every written resource checked first)."""
        if not isinstance(tx, Transaction):
            tx = Transaction(list(tx))
        issues: list[Issue] = []
        blocking: list[Issue] = []
        for index, method, resource in tx.indexed_resources:
            self.guard_resource(resource, create=method == "POST", where=f"Bundle.entry[{index}].resource")
            name = type_name(type(resource))
            try:
                issues.extend(entry_issue(i, name, index) for i in self._validate(resource, validate))
            except LocalValidationError as exc:
                issues.extend(entry_issue(i, name, index) for i in exc.issues)
                blocking.extend(entry_issue(i, name, index) for i in exc.blocking)
        if blocking:
            raise LocalValidationError(f"{kind} Bundle", issues, blocking=blocking)
        body = _encode(tx.to_json("transaction" if kind == "transaction" else "batch"))
        refs = tx.refs

        def read(response: httpx.Response, meta: ResponseMeta) -> BundleResponse:
            data = _decode(response, meta)
            if not isinstance(data, dict):
                raise InvalidResponseError("expected a Bundle", request_id=meta.request_id)
            return BundleResponse(cast("dict[str, Any]", data), meta, refs, strict=self.config.strict)

        return Call("POST", "/v1/fhir", "Bundle", read, body=body, validation_issues=tuple(issues))

    def call_raw(
        self,
        method: str,
        path: str,
        body: Resource | Mapping[str, Any] | Sequence[Any] | None,
        params: ParamsLike,
        *,
        validate: bool | None = None,
    ) -> Call[Resource | None]:
        """The ``request()`` escape hatch: any method and path under ``/v1/fhir``; answer typed by resourceType.

        A POST or PUT whose body is a resource (a model, or a dict with ``resourceType``) is validated
        locally like ``create``/``update`` (``validate=False`` skips it) and goes through the tenant
        guard: a POST to a type (a create) may carry no tenant tag, any other write at most one.
        """
        if not _text(method) or method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise InvalidArgumentError("method must be one of GET, POST, PUT, PATCH, DELETE")
        method = method.upper()
        raw_path, query = clean_path(path)
        pairs = query + normalise_params(params)
        guard_params(pairs)
        data: Any
        content_type = JSON_PATCH if method == "PATCH" else FHIR_JSON
        payload: bytes | None = None
        issues: tuple[Issue, ...] = ()
        if body is not None:
            from fhir.resources.R4B.resource import Resource as _Resource

            if isinstance(body, JsonPatch):
                data = body.operations
            elif isinstance(body, _Resource):
                data = resource_json(body)
            elif isinstance(body, (Mapping, list, tuple)):
                data = dict(body) if isinstance(body, Mapping) else list(cast("Sequence[Any]", body))
            else:
                raise InvalidArgumentError("body must be a model, a dict, a list (JSON Patch) or None")
            segments = raw_path.strip("/").split("/")
            is_create = method == "POST" and len(segments) == 1 and segments[0][:1].isupper()
            self._guard_json_body(data, create=is_create)
            if method in ("POST", "PUT") and isinstance(data, dict):
                as_json = cast("dict[str, Any]", data)
                if isinstance(as_json.get("resourceType"), str):
                    issues = self._validate(body if isinstance(body, _Resource) else as_json, validate)
            if method == "PATCH" and isinstance(data, dict):
                content_type = FHIR_JSON  # merge-style partial resource
            payload = _encode(data)
        rtype = raw_path.split("/")[1] if len(raw_path) > 1 else ""
        return Call(
            method,
            "/v1/fhir" + raw_path,
            rtype,
            self._any_reader,
            params=pairs,
            body=payload,
            content_type=content_type,
            validation_issues=issues,
        )


def entry_issue(issue: Issue, resource_type: str, index: int) -> Issue:
    """``issue`` of a Bundle entry's resource, its path rooted at the entry as ``validate(bundle)`` gives:
    ``Patient.gender`` of entry 2 -> ``Bundle.entry[2].resource.gender``."""
    import dataclasses

    root = f"Bundle.entry[{index}].resource"
    path = issue.path
    if path == resource_type:
        path = root
    elif path.startswith(resource_type + ".") or path.startswith(resource_type + "["):
        path = root + path[len(resource_type) :]
    else:
        path = f"{root}.{path}" if path else root
    return dataclasses.replace(issue, path=path)


def etag_for_str(if_match: str) -> str:
    """An explicit ``If-Match``: a bare version id becomes ``W/"<id>"``."""
    if not _text(if_match) or not _header_safe(if_match):
        raise InvalidArgumentError("if_match must be a version id or an ETag")
    return f'W/"{if_match}"' if if_match.isalnum() else if_match
