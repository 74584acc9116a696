"""``clinikfhir load``: load FHIR data into a server or the sandbox, checked locally first, never twice.

How it works (and why a re-run creates no duplicates) is in :mod:`clinikfhir._load.loader`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import add_connection_arguments

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from clinikfhir._load.loader import LoadReport

EXAMPLES = """\
examples:
  clinikfhir load ./output/fhir --base-url http://127.0.0.1:8080 --key clk_test_local1
  clinikfhir load export.zip Patient.ndjson bundle.json --concurrency 8
  clinikfhir load ./synthea --sandbox data.db           # then: clinikfhir sandbox --db data.db --tenant org_demo
  clinikfhir load ./data --dry-run                      # validate only, send nothing

Accepted: .json (a resource, or a transaction, batch, collection or searchset Bundle), .ndjson,
folders (walked), .zip, .tar.gz and .gz archives. Synthea output loads as it is.
Running the same load again creates nothing twice: every resource is created conditionally on a
load tag (meta.tag urn:clinikfhir:load|<hash of its source identity>).
Exit code: 0 when everything was loaded (or was already there), 1 when anything was refused or
the load stopped (no server, a rejected key: one line, run again to finish), 2 for bad options."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``load``'s options."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or archives to load")
    add_connection_arguments(parser)
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="requests in flight at once (default 4)"
    )
    parser.add_argument("--dry-run", action="store_true", help="read and validate only; send nothing")
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="stop after sending N resources (a Bundle counts whole); run again without it to finish",
    )
    parser.add_argument(
        "--ignore", action="append", default=[], metavar="RULE", help="skip a validation rule key (repeatable)"
    )
    parser.add_argument("--report", metavar="FILE", help="also write every refusal and the counts as JSON to FILE")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (the summary is still printed)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the load; the exit code is 1 when anything was refused."""
    from ._common import CliError, console, run_async

    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    out = console()
    report = run_async(_load(args, out))
    print_report(out, report, dry_run=args.dry_run)
    if args.report:
        write_report(args.report, report)
    return 0 if report.ok else 1


async def _load(args: argparse.Namespace, out: Console) -> LoadReport:
    from clinikfhir._load.loader import Loader

    from ._common import api_failure, open_client

    if args.dry_run:
        loader = Loader(None, dry_run=True, ignore=args.ignore)
        with ProgressBar(out, args.paths, loader, enabled=not args.no_progress, verb="Checking"):
            return await loader.run(args.paths)
    from clinikfhir.errors import ClinikError

    async with open_client(args) as clinik:
        loader = Loader(clinik, concurrency=args.concurrency, limit=args.limit, ignore=args.ignore)
        try:
            with ProgressBar(out, args.paths, loader, enabled=not args.no_progress, verb="Loading"):
                return await loader.run(args.paths)
        except ClinikError as exc:
            raise api_failure(exc) from None


class ProgressBar:
    """A rich progress bar on stderr fed by a :class:`Loader`: input read (bar and ETA), resources
    done, resources per second, refusals."""

    def __init__(self, out: Console, paths: list[str], loader: object, *, enabled: bool, verb: str) -> None:
        self.progress: Progress | None = None
        self.started = 0.0
        if not enabled:  # --no-progress: rich.progress is not even imported, the loader reports to no one
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        from clinikfhir._load.loader import Loader, total_bytes

        assert isinstance(loader, Loader)
        self.loader = loader
        err = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[resources]:>8,} resources"),
            TextColumn("{task.fields[rate]:>6,.0f}/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[red]{task.fields[refused]} refused" if err.is_terminal else "{task.fields[refused]} refused"),
            console=err,
            transient=False,
        )
        self.task = self.progress.add_task(verb, total=total_bytes(paths) or 1, resources=0, rate=0.0, refused=0)
        loader.on_progress = self._on_progress
        loader.on_bytes = self._on_bytes

    def _on_progress(self, done: int, refused: int) -> None:
        import time

        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        assert self.progress is not None
        self.progress.update(self.task, resources=done, rate=rate, refused=refused)

    def _on_bytes(self, n: int) -> None:
        assert self.progress is not None
        self.progress.advance(self.task, n)

    def __enter__(self) -> ProgressBar:
        import time

        self.started = time.perf_counter()
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def print_report(out: Console, report: LoadReport, *, dry_run: bool = False, limit_refusals: int = 50) -> None:
    """The summary table per resource type, then the refusals grouped by file (paths and rules, no values)."""
    from rich.table import Table

    table = Table(title="Dry run: checked, nothing sent" if dry_run else "Loaded", title_justify="left")
    table.add_column("resource type")
    if dry_run:
        table.add_column("valid", justify="right")
    else:
        table.add_column("created", justify="right")
        table.add_column("already there", justify="right")
    table.add_column("refused", justify="right")
    for rtype in sorted(report.counts):
        c = report.counts[rtype]
        name = "(unreadable)" if rtype == "?" else rtype
        if dry_run:
            table.add_row(name, f"{c.valid:,}", f"{c.refused:,}")
        else:
            table.add_row(name, f"{c.created:,}", f"{c.existing:,}", f"{c.refused:,}")
    out.print(table)
    done = sum(c.created + c.existing + c.refused + c.valid for c in report.counts.values())
    rate = done / report.seconds if report.seconds > 0 else 0.0
    out.print(f"{done:,} resources in {report.seconds:.1f} s ({rate:,.0f}/s)")
    if report.refusals:
        out.print(f"[bold red]{len(report.refusals)} problem(s)[/] (element paths and rules; values are never shown):")
        last = None
        for refusal in report.refusals[:limit_refusals]:
            if refusal.label != last:
                out.print(f"  {refusal.label}", markup=False)
                last = refusal.label
            where = f"{refusal.path}: " if refusal.path else ""
            out.print(f"    {where}{refusal.message} [{refusal.rule}]", markup=False)
        if len(report.refusals) > limit_refusals:
            out.print(f"  ... and {len(report.refusals) - limit_refusals} more (--report FILE lists them all)")
    if report.aborted:
        out.print(f"[bold red]stopped:[/] {report.aborted}", highlight=False)
        out.print("run the same command again to load the rest (nothing is loaded twice)")
    if report.stopped_early:
        out.print("stopped at --limit; run the same command without it to load the rest (nothing is loaded twice)")


def write_report(path: str, report: LoadReport) -> None:
    """The report as JSON: counts per type and every refusal."""
    import orjson

    data = {
        "counts": {
            t: {"created": c.created, "existing": c.existing, "refused": c.refused} for t, c in report.counts.items()
        },
        "refusals": [{"file": r.label, "path": r.path, "rule": r.rule, "message": r.message} for r in report.refusals],
        "stopped_early": report.stopped_early,
        "aborted": report.aborted,
        "seconds": round(report.seconds, 3),
    }
    with open(path, "wb") as stream:
        stream.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
