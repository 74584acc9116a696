"""The sandbox's clock: every time-dependent rule (key expiry and revocation lag, idempotency windows,
rate-limit windows, index lag, injected latency, lastUpdated stamps) reads it, so tests can move time
instead of sleeping.

>>> clock = ManualClock()
>>> sb = Sandbox(clock=clock, revocation_lag=60)   # doctest: +SKIP
>>> clock.advance(61)                               # the revoked key is now refused
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time, monotonic time and sleeping, as the sandbox uses them."""

    def time(self) -> float:
        """Seconds since the epoch (``time.time()``)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (``time.monotonic()``)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (injected latency in the in-process transport)."""
        ...

    async def asleep(self, seconds: float) -> None:
        """:meth:`sleep` for the async transport."""
        ...


class SystemClock:
    """The real clock (the default)."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """The process's monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Really sleep."""
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Really sleep, without blocking the event loop."""
        if seconds > 0:
            await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told (:meth:`advance`, or :meth:`sleep` from injected latency).

    It starts at the real wall time (or ``start``) so stamps look current. Thread-safe."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def time(self) -> float:
        """The clock's current wall time."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """The same instant: a manual clock never goes back."""
        return self.time()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if not seconds >= 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance instead of sleeping."""
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        """Advance instead of sleeping."""
        self.advance(max(0.0, seconds))


__all__ = ["Clock", "ManualClock", "SystemClock"]
