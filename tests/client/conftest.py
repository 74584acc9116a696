"""Fixtures for the client tests: one test body drives Clinik and AsyncClinik, in-process and over HTTP.

``env`` is parametrised over four modes (sync/async x in-process transport/uvicorn on 127.0.0.1);
``env.client`` is an :class:`Either`, so ``await env.client.read(Patient, id)`` runs the sync client
synchronously or awaits the async one. Each test gets a fresh tenant, so the session's served
sandbox is shared without tests seeing each other's data.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from clinikfhir import AsyncClinik, Clinik
from clinikfhir.sandbox import Sandbox

MODES = ["sync-inprocess", "async-inprocess", "sync-http", "async-http"]


class Either:
    """Calls a Clinik or an AsyncClinik method the same way: ``await either.read(...)``."""

    def __init__(self, client: Clinik | AsyncClinik) -> None:
        self.raw = client
        self.is_async = isinstance(client, AsyncClinik)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.raw, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                return await result
            return result

        return call

    async def search_page(self, model: Any, params: Any = None) -> Any:
        """``client.search(model, params).page()``: the first page through the typed builder."""
        result = self.raw.search(model, params).page()
        if inspect.isawaitable(result):
            return await result
        return result

    async def search_all(self, model: Any, params: Any = None) -> list[Any]:
        """``client.search(model, params).iter()`` drained: every match, following ``next`` links."""
        it = self.raw.search(model, params).iter()
        if hasattr(it, "__aiter__"):
            return [x async for x in it]
        return list(it)

    async def collect(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Drain an iterator method (``pages``), sync or async."""
        it = getattr(self.raw, name)(*args, **kwargs)
        if hasattr(it, "__aiter__"):
            return [x async for x in it]
        return list(it)

    async def close(self) -> None:
        result = self.raw.close()
        if inspect.isawaitable(result):
            await result


@dataclass
class Env:
    """One test's view of a sandbox through one kind of client."""

    mode: str
    sandbox: Sandbox
    tenant: str
    key: str
    clients: list[Either] = field(default_factory=lambda: [])
    default: Either | None = None

    @property
    def is_async(self) -> bool:
        return self.mode.startswith("async")

    @property
    def in_process(self) -> bool:
        return self.mode.endswith("inprocess")

    def new_key(self, tenant: str | None = None, scope: str = "*") -> str:
        return self.sandbox.create_key(tenant or f"org_{secrets.token_hex(5)}", scope=scope)  # type: ignore[arg-type]

    def make(self, key: str | None = None, **kwargs: Any) -> Either:
        """A client of this mode on this sandbox (closed at teardown)."""
        if self.in_process and "http_client" not in kwargs:
            kwargs.setdefault(
                "transport", self.sandbox.async_transport() if self.is_async else self.sandbox.transport()
            )
        cls = AsyncClinik if self.is_async else Clinik
        client = Either(cls(key or self.key, base_url=self.sandbox.base_url, **kwargs))
        self.clients.append(client)
        return client

    @property
    def client(self) -> Either:
        """The client of this test's own tenant."""
        if self.default is None:
            self.default = self.make()
        return self.default


@pytest.fixture(params=MODES)
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    mode: str = request.param
    sb: Sandbox = request.getfixturevalue("served_sandbox" if mode.endswith("http") else "sandbox")
    tenant = f"org_{secrets.token_hex(5)}"
    e = Env(mode, sb, tenant, sb.create_key(tenant))
    try:
        yield e
    finally:
        sb.faults.reset()
        for c in e.clients:
            await c.close()
