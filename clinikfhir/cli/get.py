"""``clinikfhir get Patient/123``: read one resource, typed, and show it."""

from __future__ import annotations

import argparse

from ._common import add_connection_arguments

EXAMPLES = """\
examples:
  clinikfhir get Patient/123
  clinikfhir get Observation/abc --format json | jq .valueQuantity
  clinikfhir get Patient/123 --version 2

On a terminal: a header (type/id, version, last updated), a one-line summary and highlighted JSON.
Piped: the resource's JSON on one line (or choose with --format)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``get``'s options."""
    parser.add_argument("reference", metavar="TYPE/ID", help="the resource to read, e.g. Patient/123")
    parser.add_argument("--version", dest="version_id", metavar="VID", help="read this version (vread)")
    parser.add_argument("--format", choices=("pretty", "json"), help="default: pretty on a terminal, json when piped")
    add_connection_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read and print; 1 when the server refuses (404 and friends, one line on stderr)."""
    import asyncio
    import sys

    from ._common import api_failure, console, open_client, split_reference
    from ._show import as_json, show_resource

    rtype, rid = split_reference(args.reference)
    out = console()

    async def read() -> object:
        from clinikfhir.errors import ClinikError
        from clinikfhir.models import resource_class

        model = resource_class(rtype)
        async with open_client(args) as clinik:
            try:
                if args.version_id:
                    return await clinik.vread(model, rid, args.version_id)
                return await clinik.read(model, rid)
            except ClinikError as exc:
                raise api_failure(exc) from None

    resource = asyncio.run(read())
    fmt = args.format or ("pretty" if out.is_terminal else "json")
    if fmt == "json":
        import orjson

        sys.stdout.write(orjson.dumps(as_json(resource)).decode() + "\n")  # type: ignore[arg-type]
    else:
        show_resource(out, resource)  # type: ignore[arg-type]
    return 0
