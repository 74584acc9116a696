"""Every exception clinikfhir raises: one hierarchy rooted at :class:`ClinikError`.

The tree (``validation_issues(exc)`` gives one issue shape for the two validation failures)::

    ClinikError
    ├── LocalError                      nothing was sent
    │   ├── InvalidArgumentError        (also ValueError)
    │   │   └── UnsupportedSearchError  the server's CapabilityStatement lacks part of a search
    │   ├── ConfigurationError          (also ValueError)
    │   ├── TenantGuardError            a write or search would touch the gateway's tenant tag
    │   └── LocalValidationError        (also ValidationFailed) every issue with its element path
    ├── ModelParseError                 (also ValueError) data that is not an R4 resource
    ├── ValidationFailed                base of LocalValidationError and ServerValidationError
    ├── NetworkError
    │   ├── RequestTimeoutError
    │   │   └── DeadlineExceededError   the call's total deadline passed
    │   └── OutcomeUnknownError         a write whose outcome could not be learnt
    ├── InvalidResponseError
    │   └── ResponseTooLargeError
    ├── ApiError                        the gateway answered with an error status
    │   ├── BadRequestError, AuthenticationError, NotFoundError, PayloadTooLargeError, ServerError
    │   ├── ForbiddenError ── TenantConflictError
    │   ├── ConflictError ── VersionConflictError, IdempotencyConflictError
    │   ├── ServerValidationError       (also ValidationFailed) the gateway's 422
    │   └── RateLimitError ── QuotaExceededError
    └── NoMatchError, MultipleMatchesError   (also LookupError) ``query.one()``

Grouped by what the caller can do about it:

* :class:`LocalError` -- nothing was sent: a bad argument, a resource that fails local validation,
  a write that would touch the gateway's tenant tag, a bad configuration.
* :class:`ApiError` -- the gateway answered with an error status. One subclass per situation
  (``NotFoundError``, ``VersionConflictError``, ``RateLimitError``...), each carrying ``status``,
  ``code``, ``message``, ``request_id`` and ``issues`` read from the gateway envelope or a FHIR
  ``OperationOutcome`` (both ``issues`` and ``issue``).
* :class:`NetworkError` / :class:`RequestTimeoutError` -- no usable answer arrived.
* :class:`InvalidResponseError` -- an answer arrived that is not what the contract promises.

No exception ever carries the API key or a resource value: diagnostics and messages coming from the
server are redacted of PHI patterns (e-mail addresses, phone numbers, SSNs, dates) before they are
stored (gateway.md §8.4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from clinikfhir._issues import Issue
from clinikfhir._public import shown_as_root
from clinikfhir._wire import KEY_PATTERN

if TYPE_CHECKING:
    from clinikfhir._meta import ResponseMeta

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClinikError",
    "ConfigurationError",
    "ConflictError",
    "DeadlineExceededError",
    "ErrorIssue",
    "ForbiddenError",
    "IdempotencyConflictError",
    "InvalidArgumentError",
    "InvalidResponseError",
    "LocalError",
    "LocalValidationError",
    "ModelParseError",
    "MultipleMatchesError",
    "NetworkError",
    "NoMatchError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ServerError",
    "ServerValidationError",
    "TenantConflictError",
    "TenantGuardError",
    "UnsupportedSearchError",
    "ValidationFailed",
    "VersionConflictError",
    "redact",
    "validation_issues",
]

# gateway.md §8.4, in this order; the phone pattern also catches ten-digit runs in identifiers,
# which is the safe direction to err in.
_PHI_PATTERNS = (
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    re.compile(r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}\b"),
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    # a date, with the time of a dateTime/instant when one follows (``1990-01-15T10:20:30Z``)
    re.compile(
        r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
        r"(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![0-9])"
    ),
)
_API_KEY_PATTERN = KEY_PATTERN  # unanchored: found anywhere in a text, not only as the whole of it
_MAX_TEXT = 500


def redact(text: str) -> str:
    """Replace PHI-looking substrings (e-mail, phone, SSN, ISO date) and API keys by ``[REDACTED]``.

    The result is cut to 500 characters (plus ``... [truncated]``), as the vendor SDK does.

    >>> redact("email john@example.com born 1990-01-15")
    'email [REDACTED] born [REDACTED]'
    >>> redact("born 1990-01-15T10:20:30Z")
    'born [REDACTED]'
    """
    for pattern in (*_PHI_PATTERNS, _API_KEY_PATTERN):
        text = pattern.sub("[REDACTED]", text)
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "... [truncated]"
    return text


def redact_key(text: str) -> str:
    """Replace API keys only (for server texts that are dates by design, such as timestamps)."""
    return _API_KEY_PATTERN.sub("[REDACTED]", text) if "clk_" in text else text


@dataclass(frozen=True, slots=True)
class ErrorIssue:
    """One issue reported by the server (gateway ``issues[]`` or OperationOutcome ``issue[]``).

    ``diagnostics`` is already redacted; ``expression`` lists the element paths when given.
    """

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()

    def redacted(self) -> ErrorIssue:
        """This issue with every field redacted (a server may echo anything in any of them)."""
        return ErrorIssue(
            severity=redact(self.severity),
            code=redact(self.code),
            diagnostics=redact(self.diagnostics),
            expression=tuple(redact(e) for e in self.expression),
        )

    def __str__(self) -> str:
        where = f" at {', '.join(self.expression)}" if self.expression else ""
        return f"{self.severity} {self.code}{where}: {self.diagnostics}"


class ClinikError(Exception):
    """Base class of every clinikfhir error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which Exception's default pickling loses.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[ClinikError], args: tuple[Any, ...], state: dict[str, Any]) -> ClinikError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


# --------------------------------------------------------------------------------------------- local


class LocalError(ClinikError):
    """Raised before anything was sent; nothing reached the server."""


class ModelParseError(ClinikError, ValueError):
    """The data is not a FHIR R4 resource these models can represent (``clinikfhir.models.parse``).

    ``problems`` lists ``(element path, message)`` pairs; messages never contain the data itself.
    A response that fails to parse reaches callers of the clients as :class:`InvalidResponseError`.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class InvalidArgumentError(LocalError, ValueError):
    """An argument is unusable: a hostile id, an unknown patch path, a body over the 1 MiB cap..."""


class UnsupportedSearchError(InvalidArgumentError):
    """The server's CapabilityStatement does not support part of this search; nothing was sent."""

    def __init__(self, resource_type: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{resource_type} search not supported by the server: " + "; ".join(self.problems))


class ConfigurationError(LocalError, ValueError):
    """The client configuration is unusable: missing or malformed API key, plain http to a remote host."""


class TenantGuardError(LocalError):
    """The request would set, filter on or alter the gateway's tenant tag.

    The gateway owns tenancy: it tags every resource with ``https://clinikapi.com/tenant`` itself and
    appends the tenant filter to every search. Clients must not set that tag, search on it, or patch
    ``/meta/tag``.
    """


class ValidationFailed(ClinikError):
    """Base of both validation failures, so one ``except`` handles them, with one issue shape:

    * :class:`LocalValidationError` -- a write failed local validation (nothing was sent);
    * :class:`ServerValidationError` -- the server answered 422.

    ``validation_issues`` lists :class:`clinikfhir.Issue` (``severity``, ``code``, ``path``,
    ``message``, ``key``) for both. pydantic's ``ValidationError``, raised when a model is built with
    a wrong value, keeps its own class (pydantic raises it); catch it in the same clause with
    ``except (ValidationFailed, pydantic.ValidationError) as exc`` and read it with
    :func:`validation_issues`, which gives the same shape for all three.
    """

    @property
    def validation_issues(self) -> list[Issue]:
        """The problems, as :class:`clinikfhir.Issue`."""
        return validation_issues(self)


def validation_issues(exc: BaseException) -> list[Issue]:
    """The issues of a validation failure, one shape (:class:`clinikfhir.Issue`) whatever raised it:
    a :class:`LocalValidationError`, a :class:`ServerValidationError` (path from ``expression``,
    message from the redacted ``diagnostics``) or a pydantic ``ValidationError`` (path from ``loc``,
    message from the error type; the rejected input is never copied). Anything else: ``[]``."""
    if isinstance(exc, LocalValidationError):
        return list(exc.issues)
    if isinstance(exc, ServerValidationError):
        return [
            Issue(
                i.severity if i.severity in ("fatal", "error", "warning", "information") else "error",  # type: ignore[arg-type]
                i.code,
                i.expression[0] if i.expression else "",
                i.diagnostics,
            )
            for i in exc.issues
        ]
    errors = getattr(exc, "errors", None)
    title = getattr(exc, "title", None)
    if callable(errors) and isinstance(title, str):  # pydantic.ValidationError, duck-typed (no import)
        out: list[Issue] = []
        for err in cast("list[dict[str, Any]]", errors(include_input=False, include_url=False)):
            loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err.get("loc", ()))
            out.append(
                Issue(
                    "error",
                    "invalid",
                    f"{title}.{loc}".replace(".[", "[") if loc else title,
                    str(err.get("type", "invalid")),
                )
            )
        return out
    return []


class LocalValidationError(LocalError, ValidationFailed):
    """The resource failed local validation; ``issues`` lists every problem with its element path."""

    def __init__(self, resource_type: str, issues: Sequence[Issue], *, blocking: Sequence[Issue] | None = None) -> None:
        self.issues: list[Issue] = list(issues)
        #: the issues that blocked the write (errors; warnings too under ``reject_warnings=True``)
        self.blocking: list[Issue] = list(blocking) if blocking is not None else [i for i in self.issues if i.is_error]
        lines = "\n".join(f"  - {i}" for i in self.blocking)
        super().__init__(
            f"{resource_type} failed local validation with {len(self.blocking)} blocking issue(s); "
            f"nothing was sent:\n{lines}"
        )


# ------------------------------------------------------------------------------------- no response


class NetworkError(ClinikError):
    """The request could not be completed: connection refused or reset, DNS failure, broken stream.

    A write may or may not have been applied; clinikfhir retries writes only under an
    ``Idempotency-Key``, so a retried create cannot be duplicated.
    """


class RequestTimeoutError(NetworkError):
    """No complete response arrived within the configured timeout (per attempt)."""


class DeadlineExceededError(RequestTimeoutError):
    """The call's total deadline passed: an attempt (or all attempts together) took longer than the
    configured ``timeout`` in total, however slowly the server kept the connection alive."""


class OutcomeUnknownError(NetworkError):
    """A write may or may not have been applied, and the client could not find out which.

    Raised instead of a wrong answer: after an attempt whose answer was lost (a dropped connection,
    a timeout, a 500/502/504), when the retries ran out or a later attempt's answer cannot tell
    whether the earlier attempt landed. Read the resource to learn its state. ``method`` and
    ``resource_type`` name the call; ``last_error`` is the class name of the last failure.
    """

    def __init__(self, message: str, *, method: str = "", resource_type: str = "", last_error: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.resource_type = resource_type
        self.last_error = last_error


class InvalidResponseError(ClinikError):
    """The server's answer breaks the contract: not JSON, truncated, the wrong resource type, a
    redirect, a ``next`` link to another origin, or content the R4 models cannot represent.

    ``problems`` lists ``(element path, message)`` pairs when the body did not match the model.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str = "",
        problems: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(redact(message))
        self.status = status
        self.request_id = redact(request_id)
        self.problems: list[tuple[str, str]] = [(path, redact(msg)) for path, msg in problems]


class ResponseTooLargeError(InvalidResponseError):
    """The response body grew past the client's ``max_response_bytes`` (counted after decompression,
    while reading): the rest was not read."""


# ----------------------------------------------------------------------------------- error statuses


class ApiError(ClinikError):
    """The gateway answered with an error status.

    Attributes: ``status`` (HTTP status), ``code`` (the gateway code such as ``NOT_FOUND``),
    ``message`` (redacted), ``request_id`` (``x-request-id``, quote it to support), ``issues``
    (:class:`ErrorIssue`, redacted) and ``meta`` (the full response metadata).
    """

    default_code: ClassVar[str] = "API_ERROR"
    #: the (HTTP status, gateway code) pairs this class stands for; a code of None matches any code
    #: of that status, a named code wins over None (:func:`error_class` reads this table)
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str = "",
        request_id: str = "",
        issues: Sequence[ErrorIssue] = (),
        meta: ResponseMeta | None = None,
    ) -> None:
        self.status = status
        # everything a server sent is redacted: a hostile or broken server may echo the key or PHI
        self.code = redact(code) if code else self.default_code
        self.request_id = redact(request_id)
        self.issues: list[ErrorIssue] = [i.redacted() for i in issues]
        self.meta = meta.redacted() if meta is not None else None
        super().__init__(redact(message))

    def __str__(self) -> str:
        text = f"{self.status} {self.code}: {self._what()}{self.message}"
        if self.issues:
            text += "".join(f"\n  - {i}" for i in self.issues)
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, request_id={self.request_id!r})"

    @property
    def resource_type(self) -> str:
        """The resource type the failed call was about (``""`` when unknown)."""
        return self.meta.resource_type if self.meta is not None else ""

    def _what(self) -> str:
        return ""


class BadRequestError(ApiError):
    """400: malformed JSON, an invalid search parameter, a rejected header."""

    default_code = "INVALID_PARAMETER"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((400, None),)


class AuthenticationError(ApiError):
    """401: the API key is missing, malformed, unknown, revoked or expired (see ``code``)."""

    default_code = "UNAUTHORIZED"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((401, None),)


class ForbiddenError(ApiError):
    """403: the key lacks the scope for this method (``FORBIDDEN``)."""

    default_code = "FORBIDDEN"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((403, None),)


class TenantConflictError(ForbiddenError):
    """403 ``TENANT_CONFLICT``: the request touched another tenant's tag or the tenant filter."""

    default_code = "TENANT_CONFLICT"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((403, "TENANT_CONFLICT"),)


class NotFoundError(ApiError):
    """404 (or 410): no such resource in this tenant and environment, or it was deleted."""

    default_code = "NOT_FOUND"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((404, None), (410, None))

    def _what(self) -> str:
        return f"{self.resource_type} not found: " if self.resource_type else ""


class ConflictError(ApiError):
    """409: the request conflicts with the server's state."""

    default_code = "CONFLICT"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((409, None),)


class VersionConflictError(ConflictError):
    """409 ``VERSION_CONFLICT`` (or 412): ``If-Match`` named a version that is no longer current.

    Read the resource again, reapply the change, and retry.
    """

    default_code = "VERSION_CONFLICT"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((409, "VERSION_CONFLICT"), (412, None))


class IdempotencyConflictError(ConflictError):
    """409 ``IDEMPOTENCY_KEY_REUSED``: an ``Idempotency-Key`` was reused with a different body."""

    default_code = "IDEMPOTENCY_KEY_REUSED"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((409, "IDEMPOTENCY_KEY_REUSED"),)


class PayloadTooLargeError(ApiError):
    """413: the request body exceeds the server's cap."""

    default_code = "PAYLOAD_TOO_LARGE"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((413, None),)


class ServerValidationError(ApiError, ValidationFailed):
    """422: the server rejected the resource; ``issues`` says where.

    (Named so as not to clash with ``pydantic.ValidationError``; local checks raise
    :class:`LocalValidationError` instead.)
    """

    default_code = "VALIDATION_ERROR"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((422, None),)


class RateLimitError(ApiError):
    """429: too many requests. ``retry_after`` is the server's ``Retry-After`` in seconds, if sent."""

    default_code = "RATE_LIMITED"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((429, None),)

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class QuotaExceededError(RateLimitError):
    """429 ``MONTHLY_QUOTA_EXCEEDED`` / ``SANDBOX_QUOTA_EXCEEDED``: the monthly pool is used up.

    Not retried: waiting seconds does not help.
    """

    default_code = "MONTHLY_QUOTA_EXCEEDED"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = (
        (429, "MONTHLY_QUOTA_EXCEEDED"),
        (429, "SANDBOX_QUOTA_EXCEEDED"),
    )


class ServerError(ApiError):
    """5xx: the gateway or its datastore failed (retried automatically before this is raised)."""

    default_code = "INTERNAL_ERROR"
    matches: ClassVar[tuple[tuple[int, str | None], ...]] = ((500, None),)


_TABLE: dict[tuple[int, str | None], type[ApiError]] = {}


def error_class(status: int, code: str = "") -> type[ApiError]:
    """The :class:`ApiError` subclass for an error ``status`` and gateway ``code``, read from each
    class's ``matches``: the exact (status, code) pair, else the status with any code, else
    :class:`ServerError` for any 5xx and :class:`ApiError` for anything else."""
    if not _TABLE:
        stack: list[type[ApiError]] = [ApiError]
        while stack:
            cls = stack.pop()
            if globals().get(cls.__name__) is cls:  # defined here (not a caller's subclass)
                for pair in cls.matches:
                    _TABLE[pair] = cls
                stack.extend(cls.__subclasses__())
    found = _TABLE.get((status, code)) or _TABLE.get((status, None))
    if found is not None:
        return found
    return ServerError if status >= 500 else ApiError


# ------------------------------------------------------------------------------------ search results


class NoMatchError(ClinikError, LookupError):
    """``query.one()``: the search succeeded and nothing matched."""


class MultipleMatchesError(ClinikError, LookupError):
    """``query.one()``: the search succeeded and more than one resource matched."""


# every public name here is also a root name (``clinikfhir.NotFoundError``): reprs, tracebacks and
# help() say so. Pickling finds them through the root; error_class does not depend on __module__.
for _name in __all__:
    shown_as_root(globals()[_name])
