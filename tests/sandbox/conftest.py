"""Sandbox test helpers: ``gw`` runs a test twice, over real HTTP and over the in-process transport."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from clinikfhir.sandbox import Sandbox


@dataclass
class Gw:
    """A sandbox reached one way (``mode`` "http" or "inproc"), with key and client helpers."""

    sb: Sandbox
    mode: str

    def key(self, tenant: str | None = None, scope: str = "*", env: str = "test") -> str:
        tenant = tenant or f"org_{secrets.token_hex(6)}"
        return self.sb.add_key(f"clk_{env}_{secrets.token_hex(16)}", tenant, scope)  # type: ignore[arg-type]

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["x-api-key"] = key
        if self.mode == "http":
            return httpx.Client(base_url=self.sb.base_url, headers=headers, **kwargs)
        return httpx.Client(base_url="http://localhost", headers=headers, transport=self.sb.transport(), **kwargs)

    def tenant_client(self, scope: str = "*", env: str = "test") -> tuple[httpx.Client, str]:
        """A client for a fresh tenant; returns (client, tenant)."""
        tenant = f"org_{secrets.token_hex(6)}"
        return self.client(self.key(tenant, scope, env)), tenant


@pytest.fixture(params=["http", "inproc"])
def gw(request: pytest.FixtureRequest) -> Iterator[Gw]:
    if request.param == "http":
        served: Sandbox = request.getfixturevalue("served_sandbox")
        try:
            yield Gw(served, "http")
        finally:
            served.faults.reset()
        return
    sb = Sandbox()
    try:
        yield Gw(sb, "inproc")
        assert sb.internal_errors == []
    finally:
        sb.close()
