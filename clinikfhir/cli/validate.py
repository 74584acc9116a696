"""``clinikfhir validate``: the local validator (:func:`clinikfhir.validate`) on files, folders and
archives, for people (grouped by file and rule, colour on a terminal) and for CI (``--format json``
or ``sarif``, exit code)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

EXAMPLES = """\
examples:
  clinikfhir validate patient.json
  clinikfhir validate ./data export.zip --level error
  clinikfhir validate ./data --ignore dom-6 --format json > issues.json
  clinikfhir validate ./data --format sarif > fhir.sarif     # for code-scanning tools

Messages name the element path and the rule, never the value found there.
Exit code: 0 when no file has an error (warnings do not fail unless --fail-on warning),
1 when any file has an error or cannot be read, 2 for bad options."""

_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "information": "cyan"}
_SARIF_LEVEL = {"fatal": "error", "error": "error", "warning": "warning", "information": "note"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One issue in one file (``file`` is the label: path, archive member, NDJSON line)."""

    file: str
    severity: str
    path: str
    rule: str
    message: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``validate``'s options."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or archives to check")
    parser.add_argument(
        "--level",
        choices=("error", "warning", "information"),
        default="warning",
        help="the least severe issue to report (default warning)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULE",
        help="do not report this rule key, e.g. dom-6 (repeatable)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        default="error",
        help="the least severe issue that makes the exit code 1 (default error)",
    )
    parser.add_argument(
        "--format", choices=("text", "json", "sarif"), default="text", help="output format (default text)"
    )
    parser.set_defaults(run=run)


def findings(paths: Iterable[str], *, level: str = "warning", ignore: Iterable[str] = ()) -> tuple[list[Finding], int]:
    """Every issue in ``paths`` and the number of resources checked."""
    from clinikfhir._load.sources import Problem, read_items
    from clinikfhir.validation import validate

    skip = frozenset(ignore)
    out: list[Finding] = []
    checked = 0
    for found in read_items(paths):
        if isinstance(found, Problem):
            if found.rule not in skip:
                out.append(Finding(found.label, "error", "", found.rule, found.message))
            continue
        checked += 1
        for issue in validate(found.data, level=level, ignore=skip):  # type: ignore[arg-type]
            out.append(Finding(found.label, issue.severity, issue.path, issue.key or issue.code, issue.message))
    return out, checked


def run(args: argparse.Namespace) -> int:
    """Validate and print; 1 when anything at or above ``--fail-on`` was found."""
    import sys

    from ._common import require_rich

    results, checked = findings(args.paths, level=args.level, ignore=args.ignore)
    failing = {"error": ("fatal", "error"), "warning": ("fatal", "error", "warning")}[args.fail_on]
    failed = any(f.severity in failing for f in results)
    if args.format == "json":
        sys.stdout.write(to_json(results, checked))
    elif args.format == "sarif":
        sys.stdout.write(to_sarif(results))
    else:
        require_rich()
        from ._common import console

        print_text(console(), results, checked)
    return 1 if failed else 0


def _grouped(results: list[Finding]) -> dict[str, dict[tuple[str, str, str], list[str]]]:
    """file -> (rule, severity, message) -> element paths, in first-seen order."""
    groups: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    for f in results:
        groups.setdefault(f.file, {}).setdefault((f.rule, f.severity, f.message), []).append(f.path)
    return groups


def print_text(out: Console, results: list[Finding], checked: int) -> None:
    """Grouped by file, then by rule: ``  error [binding] message`` and the element paths under it."""
    for file, rules in _grouped(results).items():
        out.print(file, style="bold", markup=False, highlight=False)
        for (rule, severity, message), paths in rules.items():
            out.print(f"  [{_STYLE.get(severity, '')}]{severity}[/] \\[{rule}] ", end="")
            out.print(message, markup=False)
            for path in paths:
                if path:
                    out.print(f"      {path}", markup=False)
    files = len({f.file for f in results})
    counts = {s: sum(1 for f in results if f.severity == s) for s in ("fatal", "error", "warning", "information")}
    parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
    summary = ", ".join(parts) if parts else "no issues"
    noun = "resource" if checked == 1 else "resources"
    out.print(f"{checked} {noun} checked: {summary}" + (f" in {files} file(s)" if parts else ""))


def to_json(results: list[Finding], checked: int) -> str:
    """``{"checked": n, "files": [{"file", "issues": [{severity, path, rule, message}]}], "counts": {...}}``."""
    import orjson

    files = [
        {
            "file": file,
            "issues": [
                {"severity": f.severity, "path": f.path, "rule": f.rule, "message": f.message}
                for f in results
                if f.file == file
            ],
        }
        for file in dict.fromkeys(f.file for f in results)
    ]
    counts = {s: sum(1 for f in results if f.severity == s) for s in ("fatal", "error", "warning", "information")}
    return (
        orjson.dumps({"checked": checked, "counts": counts, "files": files}, option=orjson.OPT_INDENT_2).decode() + "\n"
    )


def to_sarif(results: list[Finding]) -> str:
    """SARIF 2.1.0: one run, a rule per rule key, a result per issue located at the file and the element path."""
    import orjson

    from clinikfhir import __version__

    rules = sorted({f.rule for f in results})
    index = {rule: i for i, rule in enumerate(rules)}
    sarif: dict[str, Any] = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "clinikfhir",
                        "version": __version__,
                        "informationUri": "https://hl7.org/fhir/R4/",
                        "rules": [{"id": rule, "name": rule} for rule in rules],
                    }
                },
                "results": [
                    {
                        "ruleId": f.rule,
                        "ruleIndex": index[f.rule],
                        "level": _SARIF_LEVEL.get(f.severity, "error"),
                        "message": {"text": f"{f.path}: {f.message}" if f.path else f.message},
                        "locations": [
                            {
                                "physicalLocation": {"artifactLocation": {"uri": _artifact(f.file)}},
                                **({"logicalLocations": [{"fullyQualifiedName": f.path}]} if f.path else {}),
                            }
                        ],
                    }
                    for f in results
                ],
            }
        ],
    }
    return orjson.dumps(sarif, option=orjson.OPT_INDENT_2).decode() + "\n"


def _artifact(label: str) -> str:
    """The file part of a label (``a.ndjson:3`` -> ``a.ndjson``; archive members keep their ``!``)."""
    head, sep, tail = label.rpartition(":")
    return head if sep and tail.isdigit() else label
