"""``clinikfhir search "Observation?code=8867-4"``: run a search and show the matches, typed."""

from __future__ import annotations

import argparse

from ._common import add_connection_arguments

EXAMPLES = """\
examples:
  clinikfhir search "Patient?family=Smith"
  clinikfhir search "Observation?code=8867-4&date=ge2024&_sort=-date" --limit 50
  clinikfhir search "Observation?subject=Patient/123" --all --format ndjson > obs.ndjson
  clinikfhir search 'Observation.code("8867-4").date.ge("2024").sort("-date")'     # builder syntax

On a terminal: a table (type/id, version, last updated, summary). Piped: NDJSON.
Follows next links up to --limit matches (default 20), or all of them with --all."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``search``'s options."""
    parser.add_argument(
        "query",
        metavar="QUERY",
        help='a FHIR search: "Type?param=value&..." or builder syntax \'Type.param("value")...\'',
    )
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="show at most N matches (default 20)")
    parser.add_argument("--all", action="store_true", help="every match, following next links")
    parser.add_argument("--format", choices=("table", "ndjson"), help="default: table on a terminal, ndjson when piped")
    add_connection_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Search and print."""
    import asyncio
    import sys

    import orjson

    from ._common import api_failure, console, open_client, split_query
    from ._show import as_json, table_of

    rtype, params = split_query(args.query)
    out = console()
    fmt = args.format or ("table" if out.is_terminal else "ndjson")
    limit = None if args.all else max(0, args.limit)

    async def search() -> list[object]:
        from clinikfhir.errors import ClinikError
        from clinikfhir.models import resource_class

        found: list[object] = []
        async with open_client(args) as clinik:
            try:
                async for resource in clinik.iter_search(resource_class(rtype), params):
                    if limit is not None and len(found) >= limit:
                        break
                    if fmt == "ndjson":
                        sys.stdout.write(orjson.dumps(as_json(resource)).decode() + "\n")
                    found.append(resource)
            except ClinikError as exc:
                raise api_failure(exc) from None
        return found

    found = asyncio.run(search())
    if fmt == "table":
        more = "" if args.all or len(found) < (limit or 0) else f" (first {limit}; --all for every match)"
        out.print(table_of(found, f"{len(found)} {rtype} match(es){more}"))  # type: ignore[arg-type]
    return 0
