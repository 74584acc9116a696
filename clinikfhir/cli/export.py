"""``clinikfhir export``: what a search or a patient's ``$everything`` returns, as NDJSON files (one per
resource type) in a folder, following every ``next`` link, with progress."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from ._common import add_connection_arguments

if TYPE_CHECKING:
    from clinikfhir import AsyncClinik
    from clinikfhir.bundle import Page
    from clinikfhir.models import Resource

EXAMPLES = """\
examples:
  clinikfhir export "Observation?code=8867-4&date=ge2024" --out ./export
  clinikfhir export --everything Patient/123 --out ./patient-123
  clinikfhir export "Patient?_count=100" "Condition" --out ./dump     # several searches
  clinikfhir export 'Observation.code("8867-4").date.ge("2024")' --out ./export   # builder syntax

A search is a query string ("Type?param=value&...") or the typed builder's syntax
('Type.param("value").other.modifier("value")...', as in Python: search parameters, their modifiers,
sort/include/revinclude/page_size/total, literal arguments only; read, never evaluated).
Writes OUT/<Type>.ndjson (one resource per line, as the server sent it), replacing files of the same
names; prints the count per type. Load it elsewhere with 'clinikfhir load OUT'."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``export``'s options."""
    parser.add_argument(
        "queries",
        nargs="*",
        metavar="QUERY",
        help='searches: "Type?param=value&...", just "Type", or builder syntax \'Type.param("value")...\'',
    )
    parser.add_argument(
        "--everything", action="append", default=[], metavar="TYPE/ID", help="Patient/123: its $everything"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder for the NDJSON files (created)")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    add_connection_arguments(parser)
    parser.set_defaults(run=run)


class _Writer:
    """One open NDJSON file per resource type, and counts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, IO[bytes]] = {}
        self.counts: dict[str, int] = {}
        self.seen: set[tuple[str, str]] = set()

    def write(self, resource: Resource) -> bool:
        from clinikfhir.models import dump_bytes

        rtype = resource.get_resource_type()
        key = (rtype, str(resource.id))
        if resource.id is not None and key in self.seen:
            return False  # the same resource from two searches (or an include) is written once
        self.seen.add(key)
        stream = self.files.get(rtype)
        if stream is None:
            stream = self.files[rtype] = (self.folder / f"{rtype}.ndjson").open("wb")
        stream.write(dump_bytes(resource) + b"\n")
        self.counts[rtype] = self.counts.get(rtype, 0) + 1
        return True

    def close(self) -> None:
        for stream in self.files.values():
            stream.close()


def run(args: argparse.Namespace) -> int:
    """Export; 1 when the server refused a search (what was written so far stays)."""
    import asyncio

    from ._common import CliError, api_failure, console, open_client, split_query, split_reference

    if not args.queries and not args.everything:
        raise CliError("give at least one search or --everything TYPE/ID")
    searches = [split_query(q) for q in args.queries]
    everything = [split_reference(r) for r in args.everything]
    folder = Path(args.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {args.out}: {exc.strerror}") from None
    out = console()
    writer = _Writer(folder)

    async def export() -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from clinikfhir.errors import ClinikError

        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:>8,} resources"),
            TextColumn("{task.fields[pages]:>4} pages"),
            TimeElapsedColumn(),
            console=console(stderr=True),
            disable=args.no_progress,
        )
        async with open_client(args) as clinik:
            with progress:
                try:
                    for rtype, params in searches:
                        task = progress.add_task(f"{rtype} search", total=None, pages=0)
                        await _search(clinik, rtype, params, writer, progress, task)
                    for rtype, rid in everything:
                        task = progress.add_task(f"{rtype}/{rid} $everything", total=None, pages=0)
                        await _everything(clinik, rtype, rid, writer, progress, task)
                except ClinikError as exc:
                    raise api_failure(exc) from None

    try:
        asyncio.run(export())
    finally:
        writer.close()
    from rich.table import Table

    table = Table(title=f"Exported to {folder}", title_justify="left")
    table.add_column("file")
    table.add_column("resources", justify="right")
    for rtype in sorted(writer.counts):
        table.add_row(f"{rtype}.ndjson", f"{writer.counts[rtype]:,}")
    out.print(table)
    return 0


async def _search(
    clinik: AsyncClinik, rtype: str, params: list[tuple[str, str]], writer: _Writer, progress: object, task: object
) -> None:
    from clinikfhir.models import resource_class

    first = await clinik.search(resource_class(rtype), params).get()
    await _pages(clinik, first, writer, progress, task)


async def _pages(clinik: AsyncClinik, first: Page[Resource], writer: _Writer, progress: object, task: object) -> None:
    """Write every resource of ``first`` and the pages after it (matches and includes; not outcomes)."""
    from rich.progress import Progress, TaskID

    from clinikfhir.models import Resource

    assert isinstance(progress, Progress)
    pages = 0
    async for page in clinik.pages(first):
        pages += 1
        written = sum(
            1 for r in page.of_type(Resource) if r.get_resource_type() != "OperationOutcome" and writer.write(r)
        )
        progress.update(cast(TaskID, task), advance=written, pages=pages)


async def _everything(
    clinik: AsyncClinik, rtype: str, rid: str, writer: _Writer, progress: object, task: object
) -> None:
    from clinikfhir.models import resource_class

    first = await clinik.everything(resource_class(rtype), rid)
    await _pages(clinik, first, writer, progress, task)
