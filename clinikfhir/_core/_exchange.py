"""One call's plan (:class:`Call`) and its retry loop as a state machine (:class:`Exchange`).

The state machine never sends and never sleeps: the shells (:class:`~clinikfhir.Clinik`,
:class:`~clinikfhir.AsyncClinik`) do. Time comes from the ``clock`` and each POST/PATCH's
``Idempotency-Key`` from ``new_key``, both passed in, so the whole loop is tested without time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx

from clinikfhir._core._errors import error_from_response
from clinikfhir._log import log_failure, log_response, log_retry, log_validation_issues
from clinikfhir._meta import ResponseMeta
from clinikfhir.errors import InvalidResponseError, NetworkError, RequestTimeoutError

if TYPE_CHECKING:
    from clinikfhir._core._calls import Core
    from clinikfhir.validation import Issue

T = TypeVar("T")

Clock = Callable[[], float]


def new_idempotency_key() -> str:
    """A fresh random ``Idempotency-Key`` (the default key factory)."""
    return uuid.uuid4().hex


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


class Exchange(Generic[T]):
    """The retry loop of one call as a state machine; the shells only send and sleep.

    ``begin()`` gives the request for the next attempt; ``on_response`` / ``on_error`` return
    :class:`Done` or :class:`Wait`, or raise the typed error. ``clock`` (seconds, monotonic) and
    ``new_key`` (the Idempotency-Key factory) are injectable.
    """

    def __init__(
        self,
        core: Core,
        call: Call[T],
        *,
        clock: Clock = time.monotonic,
        new_key: Callable[[], str] = new_idempotency_key,
    ) -> None:
        self.core = core
        self.call = call
        self.clock = clock
        self.policy = core.config.retry
        self.request = core.build_request(call, new_key() if call.method in ("POST", "PATCH") else None)
        self.retry_safe = (
            call.retry_safe
            if call.retry_safe is not None
            else self.policy.may_retry_method(call.method, "idempotency-key" in self.request.headers)
        )
        self.started = clock()
        self.attempt = 0
        log_validation_issues(call.method, call.resource_type, call.validation_issues)
        self._attempt_started = self.started

    def begin(self) -> httpx.Request:
        """The request for the next attempt (the same object every time: same body, same Idempotency-Key)."""
        self.attempt += 1
        self._attempt_started = self.clock()
        return self.request

    def _wait(self, retry_after: float | None) -> float | None:
        if not self.retry_safe or self.attempt > self.policy.max_retries:
            return None
        wait = self.policy.backoff(self.attempt - 1, retry_after)
        if self.clock() - self.started + wait > self.policy.deadline:
            return None
        log_retry(self.call.method, self.call.resource_type, wait, self.attempt)
        return wait

    def on_response(self, response: httpx.Response) -> Done[T] | Wait:
        """Interpret a complete response."""
        now = self.clock()
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
        elapsed = self.clock() - self._attempt_started
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
