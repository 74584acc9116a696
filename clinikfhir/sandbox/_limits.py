"""The gateway's stateful policies: per-organisation rate limit (§9), Idempotency-Key replay (§11)
and fault injection for tests. Each is thread-safe."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass

from ._clock import Clock, SystemClock

DEFAULT_IDEMPOTENCY_BYTES = 32 * 2**20
"""The idempotency cache's default byte budget (32 MiB)."""
MAX_LATENCY = 600.0
"""The largest injectable latency, in seconds."""
_ENTRY_OVERHEAD = 256  # bytes counted per cached response beyond its body and headers (key, digest, objects)


@dataclass(frozen=True, slots=True)
class RateState:
    """The window as reported in X-RateLimit-* headers."""

    limit: int
    remaining: int
    reset: int  # whole seconds until the window frees a slot
    allowed: bool


class RateLimiter:
    """A rolling-window limit shared by all keys of an organisation (test and live alike).

    Only admitted requests are counted: a rejected 429 does not use up the window further."""

    def __init__(self, limit: int | None, window: float = 60.0, clock: Clock | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError("rate_limit must be a positive integer or None")
        if not (0 < window < math.inf):
            raise ValueError("rate_window must be a positive number of seconds")
        self.limit = limit
        self.window = window
        self.clock: Clock = clock or SystemClock()
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, tenant: str) -> RateState | None:
        """Count one request for ``tenant``; None when no limit is configured."""
        limit = self.limit
        if limit is None:
            return None
        now = self.clock.monotonic()
        with self._lock:
            hits = self._hits.setdefault(tenant, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < limit
            if allowed:
                hits.append(now)
            full = math.ceil(self.window)
            reset = min(full, math.ceil(hits[0] + self.window - now - 1e-6)) if hits else full
            return RateState(limit, max(0, limit - len(hits)), max(1, reset), allowed)


@dataclass(slots=True)
class _Stored:
    digest: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    expires: float
    size: int


IdempotencyScope = tuple[str, str, str, str, str]
"""(env, tenant, method, target, key)."""


class IdempotencyCache:
    """First responses by (env, tenant, method, path, key), kept for ``ttl`` seconds within a byte budget.

    ``max_bytes`` bounds the bodies and headers held (plus a fixed overhead per entry); when a new
    response would exceed it, expired entries and then the oldest ones are forgotten. A response larger
    than the whole budget is not kept (its key then deduplicates nothing)."""

    def __init__(
        self, ttl: float = 24 * 3600.0, max_bytes: int = DEFAULT_IDEMPOTENCY_BYTES, clock: Clock | None = None
    ) -> None:
        if not (0 < ttl < math.inf):
            raise ValueError("ttl must be a positive number of seconds")
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.clock: Clock = clock or SystemClock()
        self._entries: OrderedDict[IdempotencyScope, _Stored] = OrderedDict()
        self._bytes = 0
        self._inflight: dict[IdempotencyScope, tuple[threading.Lock, int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    @property
    def bytes_used(self) -> int:
        """Bytes counted against the budget now."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def in_flight(self) -> bool:
        """True while a request holding an Idempotency-Key is being answered."""
        with self._lock:
            return bool(self._inflight)

    @contextmanager
    def slot(self, scope: IdempotencyScope) -> Generator[None, None, None]:
        """Serialise concurrent requests that carry the same key (the lock is dropped when unused)."""
        with self._lock:
            lock, users = self._inflight.get(scope, (threading.Lock(), 0))
            self._inflight[scope] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._inflight[scope]
                if users <= 1:
                    del self._inflight[scope]
                else:
                    self._inflight[scope] = (lock, users - 1)

    def get(self, scope: IdempotencyScope) -> _Stored | None:
        now = self.clock.time()
        with self._lock:
            stored = self._entries.get(scope)
            if stored is not None and stored.expires <= now:
                self._drop(scope)
                return None
            return stored

    def _drop(self, scope: IdempotencyScope) -> None:
        stored = self._entries.pop(scope)
        self._bytes -= stored.size

    def put(
        self,
        scope: IdempotencyScope,
        digest: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        size = len(body) + sum(len(k) + len(v) for k, v in headers) + sum(map(len, scope)) + _ENTRY_OVERHEAD
        now = self.clock.time()
        with self._lock:
            if scope in self._entries:
                self._drop(scope)
            if size > self.max_bytes:
                return
            if self._bytes + size > self.max_bytes:  # forget expired entries, then the oldest
                for k in [k for k, v in self._entries.items() if v.expires <= now]:
                    self._drop(k)
                while self._entries and self._bytes + size > self.max_bytes:
                    self._drop(next(iter(self._entries)))
            self._entries[scope] = _Stored(digest, status, headers, body, now + self.ttl, size)
            self._bytes += size


@dataclass(slots=True)
class _FaultState:
    fail_count: int = 0
    fail_status: int = 503
    fail_retry_after: int = 1
    latency: float = 0.0
    drop_count: int = 0


class Faults:
    """Fault injection, off by default.

    >>> sb.faults.fail_next(2, status=429, retry_after=1)   # doctest: +SKIP
    >>> sb.faults.latency(0.2)                               # doctest: +SKIP
    >>> sb.faults.drop_after_commit(1)                       # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._state = _FaultState()
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1, *, status: int = 503, retry_after: int = 1) -> None:
        """The next ``n`` requests fail with ``status`` (429 or 503), carrying ``Retry-After``."""
        if status not in (429, 503, 500, 502, 504):
            raise ValueError("status must be 429, 500, 502, 503 or 504")
        if n < 0 or retry_after < 0:
            raise ValueError("n and retry_after must not be negative")
        with self._lock:
            self._state.fail_count = n
            self._state.fail_status = status
            self._state.fail_retry_after = retry_after

    def latency(self, seconds: float) -> None:
        """Delay every request by ``seconds`` (0 turns it off; at most :data:`MAX_LATENCY`)."""
        if not (0 <= seconds <= MAX_LATENCY):
            raise ValueError(f"latency must be a number of seconds from 0 to {MAX_LATENCY:g}")
        with self._lock:
            self._state.latency = seconds

    def drop_after_commit(self, n: int = 1) -> None:
        """The next ``n`` successful writes are committed, then the connection breaks unanswered."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._state.drop_count = n

    def reset(self) -> None:
        """Turn every fault off."""
        with self._lock:
            self._state = _FaultState()

    def take_failure(self) -> tuple[int, int] | None:
        """(status, retry_after) when this request must fail."""
        with self._lock:
            st = self._state
            if st.fail_count <= 0:
                return None
            st.fail_count -= 1
            return st.fail_status, st.fail_retry_after

    def current_latency(self) -> float:
        with self._lock:
            return self._state.latency

    def take_drop(self) -> bool:
        """True when this committed write must lose its response."""
        with self._lock:
            if self._state.drop_count <= 0:
                return False
            self._state.drop_count -= 1
            return True

    def pending(self) -> dict[str, float]:
        """What is armed (for the admin route and for tests)."""
        with self._lock:
            st = self._state
            return {"fail_next": st.fail_count, "latency": st.latency, "drop_after_commit": st.drop_count}
