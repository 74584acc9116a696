"""The gateway's stateful policies: per-organisation rate limit (§9), Idempotency-Key replay (§11)
and fault injection for tests. Each is thread-safe."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass


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

    def __init__(self, limit: int | None, window: float = 60.0) -> None:
        if limit is not None and limit < 1:
            raise ValueError("rate_limit must be a positive integer or None")
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, tenant: str) -> RateState | None:
        """Count one request for ``tenant``; None when no limit is configured."""
        limit = self.limit
        if limit is None:
            return None
        now = time.monotonic()
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


class IdempotencyCache:
    """First responses by (env, tenant, method, path, key), kept for ``ttl`` seconds."""

    def __init__(self, ttl: float = 24 * 3600.0, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str, str, str, str], _Stored] = {}
        self._inflight: dict[tuple[str, str, str, str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    def slot_lock(self, scope: tuple[str, str, str, str, str]) -> threading.Lock:
        """A lock serialising concurrent requests that carry the same key."""
        with self._lock:
            lock = self._inflight.get(scope)
            if lock is None:
                lock = self._inflight[scope] = threading.Lock()
            return lock

    def get(self, scope: tuple[str, str, str, str, str]) -> _Stored | None:
        now = time.time()
        with self._lock:
            stored = self._entries.get(scope)
            if stored is not None and stored.expires <= now:
                del self._entries[scope]
                return None
            return stored

    def put(
        self,
        scope: tuple[str, str, str, str, str],
        digest: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:  # forget expired entries, then the oldest
                now = time.time()
                for k in [k for k, v in self._entries.items() if v.expires <= now]:
                    del self._entries[k]
                    self._inflight.pop(k, None)
                while len(self._entries) >= self.max_entries:
                    oldest = next(iter(self._entries))
                    del self._entries[oldest]
                    self._inflight.pop(oldest, None)
            self._entries[scope] = _Stored(digest, status, headers, body, time.time() + self.ttl)


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
        """Delay every request by ``seconds`` (0 turns it off)."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
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
