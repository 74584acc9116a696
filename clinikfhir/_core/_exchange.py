"""One call's plan (:class:`Call`) and its retry loop as a state machine (:class:`Exchange`).

The state machine never sends and never sleeps: the shells (:class:`~clinikfhir.Clinik`,
:class:`~clinikfhir.AsyncClinik`) do. Time comes from the ``clock`` and each POST/PATCH's
``Idempotency-Key`` from ``new_key``, both passed in, so the whole loop is tested without time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar, cast

import httpx

from clinikfhir._core._body import BodyReader
from clinikfhir._core._errors import decode_body, error_from_response
from clinikfhir._core._outcome import (
    deleted_during_call,
    instance_target,
    matched_version,
    newest_deletion,
    same_content,
)
from clinikfhir._log import log_failure, log_response, log_retry, log_validation_issues
from clinikfhir._meta import ResponseMeta
from clinikfhir.errors import (
    ApiError,
    DeadlineExceededError,
    InvalidResponseError,
    NetworkError,
    OutcomeUnknownError,
    RequestTimeoutError,
    ResponseTooLargeError,
)

if TYPE_CHECKING:
    from clinikfhir._core._calls import Core
    from clinikfhir._issues import Issue

T = TypeVar("T")

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: failures that happen before a byte of the request left: the write cannot have been applied
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

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
    :class:`Done` or :class:`Wait`, or raise the typed error. ``clock`` (seconds, monotonic; the
    retry policy's ``clock`` by default) and ``new_key`` (the Idempotency-Key factory) are injectable.
    """

    def __init__(
        self,
        core: Core,
        call: Call[T],
        *,
        clock: Clock | None = None,
        new_key: Callable[[], str] = new_idempotency_key,
    ) -> None:
        self.core = core
        self.call = call
        self.policy = core.config.retry
        self.clock = clock if clock is not None else self.policy.clock
        self.request = core.build_request(call, new_key() if call.method in ("POST", "PATCH") else None)
        self.retry_safe = (
            call.retry_safe
            if call.retry_safe is not None
            else self.policy.may_retry_method(call.method, "idempotency-key" in self.request.headers)
        )
        self.started = self.clock()
        self.attempt = 0
        #: a write (not a search or $validate sent as POST): its outcome matters
        self.is_write = call.method in _WRITES and call.retry_safe is not True
        #: an earlier attempt of this write may have been applied (its answer was lost)
        self.uncertain = False
        self._probe: str | None = None  # "vread" / "history": the next request asks what happened
        self._conflict: ApiError | None = None
        self._conflict_elapsed = 0.0
        self._conflict_time: str | None = None
        log_validation_issues(call.method, call.resource_type, call.validation_issues)
        self._attempt_started = self.started

    def begin(self) -> httpx.Request:
        """The request for the next attempt (the same object every time: same body, same Idempotency-Key).

        Its httpx timeouts are cut to what is left of the call's deadline.
        """
        self.attempt += 1
        self._attempt_started = self.clock()
        budget = self.budget()
        if budget < self.core.config.timeout:
            self.request.extensions["timeout"] = httpx.Timeout(budget).as_dict()
        return self.request

    def budget(self) -> float:
        """Seconds this attempt may still take in total: the client's ``timeout`` per attempt, and
        never past the retry policy's ``deadline`` for the whole call."""
        now = self.clock()
        left = min(
            self.core.config.timeout - (now - self._attempt_started),
            self.policy.deadline - (now - self.started),
        )
        if left <= 0:
            raise self.deadline_error()
        return left

    def deadline_error(self) -> DeadlineExceededError:
        """The typed error for an attempt or call that ran out of time, however slow the server was."""
        where = f"{self.call.method} {self.call.resource_type or 'request'}"
        return DeadlineExceededError(
            f"{where} timed out: it took longer than its total deadline ({self.core.config.timeout:g} s per attempt, "
            f"{self.policy.deadline:g} s per call) on attempt {self.attempt}"
        )

    def reader(self, response: httpx.Response) -> BodyReader:
        """A :class:`BodyReader` for ``response``'s raw stream, checking the cap and the attempt's time
        (on the policy's clock) after every chunk; a declared plain length over the cap is refused
        before a byte of the body is read."""
        cap = self.core.config.max_response_bytes
        encoding = response.headers.get("content-encoding", "")
        length = response.headers.get("content-length", "")
        if encoding.strip().lower() in ("", "identity") and length.isdigit() and int(length) > cap:
            raise self._too_large()
        return BodyReader(encoding, cap, self._too_large, self.budget)

    def check_loaded(self, size: int) -> None:
        """A body an (in-process) transport delivered whole: the cap and the deadline still hold."""
        if size > self.core.config.max_response_bytes:
            raise self._too_large()
        self.budget()

    def _too_large(self) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"the response to {self.call.method} {self.call.resource_type or 'request'} is larger than "
            f"max_response_bytes ({self.core.config.max_response_bytes} bytes, decompressed); not read further"
        )

    @staticmethod
    def buffered(response: httpx.Response, content: bytes) -> httpx.Response:
        """A complete response holding ``content`` (already decompressed) in place of the stream."""
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in (b"content-encoding", b"content-length")]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=content,
            request=response.request,
            extensions=response.extensions,
        )

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
        if self._probe is not None:
            return self._settle(response, meta)
        if 200 <= status < 300:
            return Done(self.call.parse(response, meta))
        if 300 <= status < 400:
            raise InvalidResponseError(
                f"unexpected redirect (HTTP {status}); not followed, so the API key stays with the configured origin",
                status=status,
                request_id=meta.request_id,
            )
        error = error_from_response(response, meta)
        if self.uncertain:
            probe = self._start_probe(error, now - self.started, meta.timestamp)
            if probe is not None:
                return probe
        if self.policy.retryable_status(status, error.code):
            if self.is_write and status not in (429, 503):
                self.uncertain = True  # a 500/502/504 may come after the write was applied
            wait = self._wait(meta.retry_after)
            if wait is not None:
                return Wait(wait)
        if self.uncertain and status >= 429:
            raise self._unknown(f"HTTP {status}")
        raise error

    def _unknown(self, last: str) -> OutcomeUnknownError:
        where = f"{self.call.method} {self.call.resource_type or 'request'}"
        return OutcomeUnknownError(
            f"{where}: an attempt's answer was lost ({last} after {self.attempt} attempt(s)) and the server's "
            "state does not say whether the write was applied; read the resource to find out",
            method=self.call.method,
            resource_type=self.call.resource_type,
            last_error=last,
        )

    def _start_probe(self, error: ApiError, elapsed: float, server_time: str | None) -> Wait | None:
        """After a lost answer, a conflict that the earlier attempt itself may have caused: ask."""
        call = self.call
        if call.method not in ("PUT", "DELETE") or error.status not in (404, 409, 410, 412):
            return None  # POST/PATCH are replayed under their Idempotency-Key: their answer is exact
        if error.status == 409 and error.code != "VERSION_CONFLICT":
            return None
        target = instance_target(call.path, call.params) if call.url is None else None
        if target is None:
            raise self._unknown(type(error).__name__)  # a conditional operation: nothing to ask
        version = matched_version(call.headers.get("if-match"))
        if call.method == "PUT":
            if error.status in (404, 410):
                return None  # a PUT that landed leaves the resource there: this answer is not ours
            if version is None:
                raise self._unknown(type(error).__name__)
            self._probe, path, params = "vread", f"{call.path}/_history/{version + 1}", []
        else:
            if error.status in (409, 412) and version is None:
                return None
            self._probe, path, params = "history", f"{call.path}/_history", [("_count", "1")]
        self._conflict, self._conflict_elapsed, self._conflict_time = error, elapsed, server_time
        ask: Call[None] = Call("GET", path, call.resource_type, _no_parse, params=params)
        self.request = self.core.build_request(ask)
        return Wait(0.0)

    def _settle(self, response: httpx.Response, meta: ResponseMeta) -> Done[T]:
        """Decide from the probe's answer whether the earlier attempt landed (see ``_outcome``)."""
        conflict = self._conflict
        assert conflict is not None
        status = response.status_code
        if self._probe == "vread":
            if status in (404, 410):
                raise conflict  # version N+1 does not exist: the earlier attempt did not land
            if status != 200:
                raise self._unknown(f"HTTP {status}")
            from clinikfhir.models import decode

            if same_content(decode(self.call.body or b"null"), decode_body(response, meta)):
                return Done(self.call.parse(response, meta))
            raise conflict  # version N+1 is another writer's: ours could only have been N+1
        if status in (404, 410):
            raise conflict  # no history at all: there never was anything to delete
        if status != 200:
            raise self._unknown(f"HTTP {status}")
        deletion = newest_deletion(decode_body(response, meta))
        if deletion is None:
            raise self._unknown(type(conflict).__name__)
        deleted_at, deleted_version = deletion
        version = matched_version(self.call.headers.get("if-match"))
        if version is not None:
            if deleted_version == version + 1:
                return Done(cast(T, None))
            raise conflict
        during = deleted_during_call(
            deleted_at, conflict.meta.timestamp if conflict.meta else None, self._conflict_elapsed
        )
        if during is None:
            raise self._unknown(type(conflict).__name__)
        if during:
            return Done(cast(T, None))
        raise conflict  # deleted before this call started: NotFoundError is the truth

    def on_error(self, exc: Exception) -> Wait:
        """Interpret a failure to get a response (an ``httpx.RequestError``)."""
        elapsed = self.clock() - self._attempt_started
        log_failure(self.call.method, self.call.resource_type, type(exc).__name__, elapsed, self.attempt)
        if isinstance(exc, httpx.DecodingError):
            raise InvalidResponseError("the response body could not be decoded (content encoding)") from None
        if self._probe is not None:
            raise self._unknown(type(exc).__name__) from None
        retryable = isinstance(exc, httpx.TransportError)
        if self.is_write and retryable and not isinstance(exc, _UNSENT):
            self.uncertain = True  # the request may have been applied before the answer was lost
        if retryable:
            wait = self._wait(None)
            if wait is not None:
                return Wait(wait)
        if self.uncertain:
            raise self._unknown(type(exc).__name__) from None
        where = f"{self.call.method} {self.call.resource_type or 'request'}"
        attempts = f" after {self.attempt} attempt(s)"
        if isinstance(exc, httpx.TimeoutException):
            raise RequestTimeoutError(
                f"{where} timed out{attempts} (timeout {self.core.config.timeout:g} s per attempt)"
            ) from None
        # Only the class name: httpx messages can embed URLs, which may carry search values.
        raise NetworkError(f"{where} failed{attempts}: {type(exc).__name__}") from None


def _no_parse(response: httpx.Response, meta: ResponseMeta) -> None:
    """The parse of a probe's :class:`Call` (its answer is read by :meth:`Exchange._settle`)."""
    return None
