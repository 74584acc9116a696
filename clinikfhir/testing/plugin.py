"""The clinikfhir pytest plugin: a local ClinikAPI sandbox and typed clients as fixtures, no conftest.

Registered through the ``pytest11`` entry point (``-p no:clinikfhir`` turns it off). Fixtures:

- ``clinik``, ``async_clinik``: a :class:`~clinikfhir.Clinik` / :class:`~clinikfhir.AsyncClinik` with
  ``clinik_key``, in-process on ``clinik_sandbox``, or over HTTP when the test also asks for
  ``clinik_sandbox_http``. Retries happen at once (no backoff waits, ``Retry-After`` not honoured), so a
  test never sleeps; ``clinik_options`` (a dict you may override) adds keyword arguments.
- ``clinik_sandbox``: an in-process, in-memory :class:`~clinikfhir.sandbox.Sandbox`; fresh for every
  test, or one per session with the ini option ``clinik_sandbox_scope = session`` (or
  ``--clinik-sandbox-scope=session``), where every test still gets a fresh tenant of its own.
- ``clinik_sandbox_http``: the same, served by uvicorn on a free 127.0.0.1 port (``.base_url``).
- ``clinik_tenant`` and ``clinik_key``: the test's tenant (``org_test`` when the sandbox is fresh,
  ``org_test_<random>`` when shared) and a scope-``*`` ``clk_test_`` key for it.
- ``clinik_faults``: the test's sandbox's :class:`~clinikfhir.sandbox.Faults`, reset after the test.
- ``clinik_seeded``: what ``@pytest.mark.clinik_seed`` loaded (:class:`~clinikfhir.testing.Seeded`).

Markers: ``@pytest.mark.clinik_seed("data/patients.ndjson", "data/bundles/")`` loads files (relative to
the test file) into the test's tenant before the test; ``@pytest.mark.clinik_faults(fail_next=2,
status=503, retry_after=1, latency=0.0, drop_after_commit=0)`` arms faults after the seed.

Nothing heavy is imported when pytest starts: the sandbox, the client and the models load when a
fixture first runs.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from clinikfhir.aio import AsyncClinik
    from clinikfhir.client import Clinik
    from clinikfhir.sandbox import Faults, Sandbox
    from clinikfhir.testing import Seeded

__all__ = [
    "async_clinik",
    "clinik",
    "clinik_faults",
    "clinik_key",
    "clinik_options",
    "clinik_sandbox",
    "clinik_sandbox_http",
    "clinik_seeded",
    "clinik_tenant",
]

Scope = Literal["function", "session"]
_SCOPES: tuple[Scope, ...] = ("function", "session")
_FAULT_ARGS = frozenset({"fail_next", "status", "retry_after", "latency", "drop_after_commit"})


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--clinik-sandbox-scope`` and the ini option ``clinik_sandbox_scope``."""
    help_text = "clinikfhir: one sandbox per test (function, the default) or one per session (session)"
    parser.getgroup("clinikfhir").addoption(
        "--clinik-sandbox-scope", choices=_SCOPES, default=None, dest="clinik_sandbox_scope", help=help_text
    )
    parser.addini("clinik_sandbox_scope", help_text, default="function")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers (so ``--strict-markers`` accepts them)."""
    config.addinivalue_line(
        "markers", "clinik_seed(*paths): load FHIR JSON/NDJSON/Bundle files (relative to the test file) first"
    )
    config.addinivalue_line(
        "markers",
        "clinik_faults(fail_next=0, status=503, retry_after=1, latency=0.0, drop_after_commit=0): "
        "arm the test's sandbox's fault injection",
    )


def sandbox_scope(fixture_name: str, config: pytest.Config) -> Scope:
    """The scope of ``clinik_sandbox``/``clinik_sandbox_http``: the option, else the ini value."""
    value = config.getoption("clinik_sandbox_scope", None) or config.getini("clinik_sandbox_scope") or "function"
    if value not in _SCOPES:
        raise pytest.UsageError(f"clinik_sandbox_scope must be function or session, not {value!r}")
    return "session" if value == "session" else "function"


@pytest.fixture(scope=sandbox_scope)
def clinik_sandbox() -> Iterator[Sandbox]:
    """An in-process, in-memory sandbox of the ClinikAPI gateway (no sockets)."""
    from clinikfhir.sandbox import Sandbox

    sb = Sandbox()
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture(scope=sandbox_scope)
def clinik_sandbox_http() -> Iterator[Sandbox]:
    """A sandbox served by uvicorn on a free 127.0.0.1 port; ``.base_url`` is its origin."""
    import importlib.util

    from clinikfhir.sandbox import Sandbox

    if importlib.util.find_spec("uvicorn") is None:
        pytest.fail("clinik_sandbox_http needs uvicorn: pip install 'clinikfhir[sandbox]'", pytrace=False)
    with Sandbox.serve(port=0) as sb:
        yield sb


@pytest.fixture
def clinik_tenant(request: pytest.FixtureRequest) -> str:
    """The test's tenant: ``org_test`` on a fresh sandbox, ``org_test_<random>`` on a shared one."""
    if sandbox_scope("clinik_sandbox", request.config) == "function":
        return "org_test"
    return f"org_test_{secrets.token_hex(6)}"


@dataclass
class _Context:
    """The sandbox a test talks to, its tenant's key and what was seeded."""

    sandbox: Sandbox
    http: bool
    key: str
    seeded: Seeded


@pytest.fixture
def _clinik_context(request: pytest.FixtureRequest, clinik_tenant: str) -> Iterator[_Context]:
    from clinikfhir.testing import Seeded

    http = "clinik_sandbox_http" in request.fixturenames
    sb: Sandbox = request.getfixturevalue("clinik_sandbox_http" if http else "clinik_sandbox")
    ctx = _Context(sb, http, sb.create_key(clinik_tenant), Seeded())
    try:
        _seed_from_markers(request, ctx)
        _arm_faults_from_marker(request, ctx.sandbox.faults)
        yield ctx
    finally:
        sb.faults.reset()


@pytest.fixture(autouse=True)
def _clinik_markers(request: pytest.FixtureRequest) -> None:
    """Apply ``clinik_seed``/``clinik_faults`` even when the test asks only for a sandbox fixture."""
    node = request.node
    if node.get_closest_marker("clinik_seed") is not None or node.get_closest_marker("clinik_faults") is not None:
        request.getfixturevalue("_clinik_context")


def _seed_from_markers(request: pytest.FixtureRequest, ctx: _Context) -> None:
    markers = list(request.node.iter_markers("clinik_seed"))
    if not markers:
        return
    from clinikfhir.client import Clinik
    from clinikfhir.testing import SeedError, seed

    here = request.path.parent
    paths = [here / str(p) for marker in reversed(markers) for p in marker.args]  # module first, test last
    if not paths:
        pytest.fail("clinik_seed needs at least one path", pytrace=False)
    problem = ""
    with Clinik(ctx.key, base_url=ctx.sandbox.base_url, transport=ctx.sandbox.transport()) as client:
        try:
            ctx.seeded = seed(client, *paths)
        except SeedError as exc:
            problem = str(exc)
    if problem:  # failed outside the except block: the report shows this message, not a chained traceback
        pytest.fail(f"clinik_seed: {problem}", pytrace=False)


def _arm_faults_from_marker(request: pytest.FixtureRequest, faults: Faults) -> None:
    marker = request.node.get_closest_marker("clinik_faults")
    if marker is None:
        return
    if marker.args:
        pytest.fail("clinik_faults takes keyword arguments only, e.g. clinik_faults(fail_next=2)", pytrace=False)
    unknown = sorted(set(marker.kwargs) - _FAULT_ARGS)
    if unknown:
        pytest.fail(f"clinik_faults: unknown argument(s) {', '.join(unknown)}", pytrace=False)
    kw: dict[str, Any] = marker.kwargs
    problem = ""
    try:
        if kw.get("fail_next"):
            status, retry_after = int(kw.get("status", 503)), int(kw.get("retry_after", 1))
            faults.fail_next(int(kw["fail_next"]), status=status, retry_after=retry_after)
        if kw.get("latency"):
            faults.latency(float(kw["latency"]))
        if kw.get("drop_after_commit"):
            faults.drop_after_commit(int(kw["drop_after_commit"]))
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"clinik_faults: {problem}", pytrace=False)


@pytest.fixture
def clinik_key(_clinik_context: _Context) -> str:
    """A ``clk_test_`` key with scope ``*`` for ``clinik_tenant`` on the test's sandbox."""
    return _clinik_context.key


@pytest.fixture
def clinik_faults(_clinik_context: _Context) -> Faults:
    """Fault injection on the test's sandbox (``fail_next``, ``latency``, ``drop_after_commit``)."""
    return _clinik_context.sandbox.faults


@pytest.fixture
def clinik_seeded(_clinik_context: _Context) -> Seeded:
    """What ``@pytest.mark.clinik_seed`` created: ``clinik_seeded.id("Patient/example")`` is its new id."""
    return _clinik_context.seeded


@pytest.fixture
def clinik_options() -> dict[str, Any]:
    """Extra keyword arguments for the ``clinik``/``async_clinik`` clients; override it to change them."""
    return {}


def _client_kwargs(ctx: _Context, options: dict[str, Any], *, is_async: bool) -> dict[str, Any]:
    from clinikfhir import RetryPolicy

    kwargs: dict[str, Any] = {"retries": RetryPolicy(backoff_base=0.0, honour_retry_after=False), **options}
    if not ctx.http and "http_client" not in kwargs:
        kwargs.setdefault("transport", ctx.sandbox.async_transport() if is_async else ctx.sandbox.transport())
    kwargs.setdefault("base_url", ctx.sandbox.base_url)
    return kwargs


@pytest.fixture
def clinik(_clinik_context: _Context, clinik_options: dict[str, Any]) -> Iterator[Clinik]:
    """A :class:`~clinikfhir.Clinik` for the test's tenant (HTTP when the test uses ``clinik_sandbox_http``)."""
    from clinikfhir.client import Clinik

    with Clinik(_clinik_context.key, **_client_kwargs(_clinik_context, clinik_options, is_async=False)) as client:
        yield client


async def _async_clinik(_clinik_context: _Context, clinik_options: dict[str, Any]) -> AsyncIterator[AsyncClinik]:
    """An :class:`~clinikfhir.AsyncClinik` for the test's tenant (needs pytest-asyncio)."""
    from clinikfhir.aio import AsyncClinik

    kwargs = _client_kwargs(_clinik_context, clinik_options, is_async=True)
    async with AsyncClinik(_clinik_context.key, **kwargs) as client:
        yield client


def _async_fixture() -> Callable[..., Any]:
    try:
        import pytest_asyncio
    except ImportError:

        @pytest.fixture(name="async_clinik")
        def missing() -> None:
            pytest.fail("the async_clinik fixture needs pytest-asyncio: pip install pytest-asyncio", pytrace=False)

        return missing
    return pytest_asyncio.fixture(_async_clinik, loop_scope="function", name="async_clinik")


async_clinik = _async_fixture()
