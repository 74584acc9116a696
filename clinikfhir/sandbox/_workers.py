"""A bounded pool of worker threads for the synchronous gateway, shared fairly between API keys.

The async in-process transport hands every request to it, and the ASGI front end every request but
a few small ones that never wait (reads by id; small plain writes while the pool is idle and the
writer free: see ``_asgi``), so an event loop never waits on SQLite work: while one request is slow
the loop goes on serving others.
One API key holds at most half of the workers at once, so a tenant sending many slow requests
leaves the other half to everyone else; more requests wait (on the loop, without blocking it) for a
free worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

DEFAULT_WORKERS = 8
"""Requests handled at once; more wait for a free worker (the event loop itself never blocks)."""

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Workers:
    """``workers`` threads; :meth:`run` calls a function on one of them, within the caller's key's share."""

    def __init__(self, workers: int = DEFAULT_WORKERS, *, name: str = "clinikfhir-sandbox-worker") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._per_key = max(1, workers // 2)
        # per (event loop, API key): (slots, requests holding or waiting); the lock guards the dict only,
        # since several loops (threads) may share one sandbox
        self._slots: dict[tuple[int, str], tuple[asyncio.Semaphore, int]] = {}
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def idle(self) -> bool:
        """True when no call is running on a worker or waiting for one."""
        return self._pending == 0

    async def run(self, key: str, call: Callable[[_In], _Out], arg: _In) -> _Out:
        """``call(arg)`` on a worker thread, once one of ``key``'s slots is free."""
        with self._lock:
            self._pending += 1
        try:
            async with self._slot(key):
                return await asyncio.get_running_loop().run_in_executor(self._pool, call, arg)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        """Stop the worker threads (after the calls they are running)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    @contextlib.asynccontextmanager
    async def _slot(self, key: str) -> AsyncGenerator[None, None]:
        where = (id(asyncio.get_running_loop()), key)
        with self._lock:
            sem, users = self._slots.get(where) or (asyncio.Semaphore(self._per_key), 0)
            self._slots[where] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            with self._lock:
                sem, users = self._slots[where]
                if users <= 1:
                    del self._slots[where]
                else:
                    self._slots[where] = (sem, users - 1)
