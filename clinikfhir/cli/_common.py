"""What the subcommands share: the connection options, the client, ``rich`` (an optional extra),
and the one-line errors that replace tracebacks."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncGenerator, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

    from clinikfhir import AsyncClinik

T = TypeVar("T")

__all__ = ["CliError", "MissingExtra", "add_connection_arguments", "console", "open_client", "require_rich"]


class CliError(Exception):
    """A failure worth one line on stderr and an exit code, not a traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class MissingExtra(CliError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"this command needs {module}, which is not installed: pip install 'clinikfhir[{extra}]'")


def require_rich() -> None:
    """Raise :class:`MissingExtra` unless ``rich`` (the ``cli`` extra) is importable."""
    try:
        import rich  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise MissingExtra("rich", "cli") from None


def console(*, stderr: bool = False) -> Console:
    """A rich console (colour only on a terminal, and never when ``NO_COLOR`` is set)."""
    require_rich()
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def add_connection_arguments(parser: argparse.ArgumentParser, *, sandbox: bool = True) -> None:
    """``--base-url``, ``--key`` (default from the environment) and, optionally, ``--sandbox [DB]``."""
    group = parser.add_argument_group("server")
    group.add_argument(
        "--base-url", metavar="URL", help="the API origin, e.g. https://api.clinikapi.com (default: $CLINIK_BASE_URL)"
    )
    group.add_argument("--key", metavar="KEY", help="the API key (default: $CLINIK_API_KEY); never printed")
    if sandbox:
        group.add_argument(
            "--sandbox",
            nargs="?",
            const=":memory:",
            metavar="DB",
            help="use an in-process sandbox instead of a server: in memory, or the SQLite file DB "
            "(serve it afterwards with 'clinikfhir sandbox --db DB --tenant TENANT')",
        )
        group.add_argument(
            "--tenant", default="org_demo", help="the sandbox tenant to write as, with --sandbox (default org_demo)"
        )
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per request attempt (default 30)")


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncGenerator[AsyncClinik, None]:
    """The async client the arguments describe (closing any in-process sandbox at the end)."""
    from clinikfhir import AsyncClinik
    from clinikfhir.errors import ConfigurationError

    db = getattr(args, "sandbox", None)
    if db is not None:
        if args.base_url or args.key:
            raise CliError("--sandbox talks to an in-process sandbox: leave out --base-url and --key")
        from clinikfhir.sandbox import Sandbox

        try:
            sb = Sandbox(None if db == ":memory:" else db)
        except (ValueError, OSError) as exc:
            raise CliError(f"cannot open the sandbox store: {exc}") from None
        try:
            key = sb.create_key(args.tenant)
            async with AsyncClinik(
                key, base_url=sb.base_url, transport=sb.async_transport(), timeout=args.timeout
            ) as clinik:
                yield clinik
        finally:
            sb.close()
        return
    try:
        clinik = AsyncClinik(
            args.key or None, base_url=args.base_url, timeout=args.timeout, transport=_plain_http(args.base_url)
        )
    except ConfigurationError as exc:
        raise CliError(str(exc).split("\n")[0]) from None
    async with clinik:
        yield clinik


def _plain_http(base_url: str | None) -> httpx.AsyncBaseTransport | None:
    """For a plain ``http://`` server (the served sandbox), a transport that loads no CA certificates:
    no request of the client can use TLS (its base URL is fixed and it follows no redirect), and
    reading the CA bundle is a noticeable part of a short command's start-up. None (the default
    transport, verifying as usual) for anything else."""
    if not (base_url or "").lower().startswith("http://"):
        return None
    import httpx

    return httpx.AsyncHTTPTransport(verify=False, limits=httpx.Limits(max_keepalive_connections=10))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, on uvloop's event loop when it is installed (the sandbox extra brings it):
    less CPU per request for a command that sends many."""
    import asyncio
    import importlib

    try:
        uvloop: Any = importlib.import_module("uvloop")  # optional: not a dependency of the cli extra
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def split_query(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``"Observation?code=8867-4&date=ge2024"`` -> ``("Observation", [("code", "8867-4"), ...])``; builder
    syntax (``'Observation.code("8867-4").date.ge("2024")'``) is read by :mod:`._builder` into the same."""
    from urllib.parse import parse_qsl

    from clinikfhir.models import RESOURCE_TYPES

    from ._builder import is_builder, parse_builder

    if is_builder(text):
        return parse_builder(text)

    rtype, _, query = text.strip().lstrip("/").partition("?")
    if rtype not in RESOURCE_TYPES:
        raise CliError('the search must start with an R4 resource type, e.g. "Observation?code=8867-4"')
    return rtype, parse_qsl(query, keep_blank_values=True)


def split_reference(text: str) -> tuple[str, str]:
    """``"Patient/123"`` -> ``("Patient", "123")``, or a :class:`CliError` saying what is expected."""
    from clinikfhir.models import RESOURCE_TYPES

    rtype, sep, rid = text.strip().strip("/").partition("/")
    if not sep or rtype not in RESOURCE_TYPES or not rid or "/" in rid:
        raise CliError("expected a reference such as Patient/123")
    return rtype, rid


def api_failure(exc: BaseException) -> CliError:
    """A client error as one line (status, code, request id; the library never puts values in it)."""
    from clinikfhir.errors import ApiError

    if isinstance(exc, ApiError):
        rid = f" (request id {exc.request_id})" if exc.request_id else ""
        return CliError(f"{exc.status} {exc.code}: {exc.message}{rid}", 1)
    return CliError(str(exc).split("\n")[0], 1)
