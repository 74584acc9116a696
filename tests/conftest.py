"""Shared fixtures: an in-process sandbox per test, one uvicorn-served sandbox per session, and keys.

``api_key`` and ``other_tenant_key`` belong to two fresh tenants for every test, and are accepted by
whichever sandbox fixtures the test uses (the served one when it uses none), so tests sharing the
session's served sandbox never see each other's data. ``make_key`` mints more keys the same way.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from clinikfhir.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """An in-process, in-memory sandbox (use ``sandbox.transport()`` / ``sandbox.client(key)``)."""
    sb = Sandbox()
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture(scope="session")
def served_sandbox() -> Iterator[Sandbox]:
    """One sandbox served by uvicorn on 127.0.0.1 for the whole session (``served_sandbox.base_url``)."""
    with Sandbox.serve(port=0) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _served_sandbox_faults_off(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that arms faults on the shared served sandbox cannot leak them into the next test."""
    yield
    if "served_sandbox" in request.fixturenames:
        sb: Sandbox = request.getfixturevalue("served_sandbox")
        sb.faults.reset()


KeyFactory = Callable[..., str]


@pytest.fixture
def make_key(request: pytest.FixtureRequest) -> KeyFactory:
    """``make_key(tenant=None, scope="*", env="test")``: a new key, registered on the test's sandboxes.

    Without ``tenant`` a fresh tenant id (``org_<random>``) is used."""

    def factory(tenant: str | None = None, scope: str = "*", env: str = "test") -> str:
        tenant = tenant or f"org_{secrets.token_hex(6)}"
        key = f"clk_{env}_{secrets.token_hex(16)}"
        targets = [name for name in ("sandbox", "served_sandbox") if name in request.fixturenames]
        for name in targets or ["served_sandbox"]:
            sb: Sandbox = request.getfixturevalue(name)
            sb.add_key(key, tenant, scope)  # type: ignore[arg-type]
        return key

    return factory


@pytest.fixture
def api_key(make_key: KeyFactory) -> str:
    """A ``clk_test_`` key with scope * for a fresh tenant of this test."""
    return make_key()


@pytest.fixture
def other_tenant_key(make_key: KeyFactory) -> str:
    """A ``clk_test_`` key with scope * for a second fresh tenant (for isolation tests)."""
    return make_key()
