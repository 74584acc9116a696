"""The ``clinikfhir`` command: load, export, validate and explore FHIR data; serve the sandbox.

One module per subcommand (``load``, ``export``, ``validate``, ``get``, ``search``, ``sandbox``; ``demo``
is :mod:`clinikfhir._demo`); the load engine, shared with the pytest plugin, is :mod:`clinikfhir._load`. Each module
has ``add_arguments(parser)`` and is cheap to import: the client, the models and ``rich`` are only
imported when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import NoReturn, cast

from ._common import CliError, MissingExtra

__all__ = ["build_parser", "console_main", "main"]

# name -> (module, one-line description); the order is the order of --help
_COMMANDS: dict[str, tuple[str, str]] = {
    "load": ("clinikfhir.cli.load", "load files, folders, NDJSON, Bundles and archives (Synthea too) into a server"),
    "export": ("clinikfhir.cli.export", "export a search or a patient's $everything to NDJSON files, one per type"),
    "validate": ("clinikfhir.cli.validate", "validate FHIR JSON files locally (no server); exit code for CI"),
    "get": ("clinikfhir.cli.get", "read one resource (Patient/123) and show it"),
    "search": ("clinikfhir.cli.search", 'run a search ("Observation?code=8867-4") and show the matches'),
    "sandbox": ("clinikfhir.cli.sandbox", "serve the local ClinikAPI gateway sandbox over HTTP"),
    "demo": ("clinikfhir._demo", "a guided tour of the typed client on an embedded sandbox"),
}

_EPILOG = """\
examples:
  clinikfhir sandbox --port 8080 --key clk_test_local1=org_demo
  clinikfhir load ./synthea/output/fhir --base-url http://127.0.0.1:8080 --key clk_test_local1
  clinikfhir validate ./data --format json
  clinikfhir search "Observation?code=8867-4&date=ge2024" --all
  clinikfhir export --everything Patient/123 --out ./export

The key and the server come from --key/--base-url or the CLINIK_API_KEY/CLINIK_BASE_URL environment
variables. Run 'clinikfhir COMMAND --help' for a command's options and examples."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the whole command: every subcommand is registered (name and summary);
    the options of ``only`` (every one when None) are added, by importing its module. ``main``
    imports only the module of the command it runs, so start-up pays for no other."""
    from clinikfhir import __version__

    parser = argparse.ArgumentParser(
        prog="clinikfhir",
        description="A typed FHIR R4 client for the ClinikAPI FHIR passthrough, on the command line.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"clinikfhir {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in _COMMANDS.items():
        description = summary[0].upper() + summary[1:] + "."
        formatter = argparse.RawDescriptionHelpFormatter
        if only is not None and name != only:
            commands.add_parser(name, help=summary, description=description, formatter_class=formatter)
            continue
        module = importlib.import_module(module_name)
        epilog = getattr(module, "EXAMPLES", None)
        sub = commands.add_parser(name, help=summary, description=description, epilog=epilog, formatter_class=formatter)
        add = cast("Callable[[argparse.ArgumentParser], None]", module.add_arguments)
        add(sub)
    return parser


def _command_of(argv: list[str]) -> str:
    """The subcommand ``argv`` names (its first word not an option; the top level has no option
    taking a value), or "" when it names none of them."""
    first = next((a for a in argv if not a.startswith("-")), "")
    return first if first in _COMMANDS else ""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 something refused or failed, 2 usage)."""
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=_command_of(words))
    args = parser.parse_args(words)
    run = cast("Callable[[argparse.Namespace], int]", args.run)
    try:
        return run(args)
    except MissingExtra as exc:
        print(f"clinikfhir {args.command}: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"clinikfhir {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"clinikfhir {args.command}: interrupted", file=sys.stderr)
        return 130


def console_main() -> NoReturn:
    """The ``clinikfhir`` console script (and ``python -m clinikfhir.cli``): :func:`main` in a process
    of its own, which then ends at once.

    Two costs of a short command that do not belong to it are left out. httpx's own command line
    (``httpx._main``, an optional import of ``httpx`` that pulls in click, rich and pygments whenever
    they are installed, as the sandbox and cli extras do) is never imported: about 45 ms of every
    command's start-up, for a function this process never calls. And once the command has finished,
    the process exits without tearing the interpreter down module by module (about 45 ms after a
    load), having flushed stdout and stderr and closed the logging handlers, the only buffers it
    holds; every file and connection of the command was closed by the command itself. ``main``
    called from Python does neither.
    """
    _skip_httpx_command_line()
    code = main()
    _exit_now(code)


def _skip_httpx_command_line() -> None:
    # None in sys.modules makes "import httpx._main" raise ImportError, which httpx/__init__ catches
    # (its stand-in main() says the command line is not installed); only before httpx is imported
    modules = cast("dict[str, object]", sys.modules)  # typeshed has no None entries; the import system does
    if "httpx" not in modules:
        modules.setdefault("httpx._main", None)


def _exit_now(code: int) -> NoReturn:
    import contextlib
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (clinikfhir ... | head): nothing to tell
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
