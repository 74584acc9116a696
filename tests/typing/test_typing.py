"""The typing-test runner (interface 8): ``mypy --strict`` and ``pyright`` (strict) over every
``tests/typing/cases_*.py``; exactly the lines marked ``# expect-type-error`` must fail, in both.

The case files are never executed; they are the promise that IDE completion and type checking hold:
``assert_type(clinik.read(Patient, x), Patient)`` passes, a misspelled keyword does not.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MARK = "# expect-type-error"
CASES = sorted(HERE.glob("cases_*.py"))


def expected_lines(path: Path) -> set[int]:
    """1-based numbers of the lines that must be type errors."""
    return {n for n, line in enumerate(path.read_text().splitlines(), 1) if line.rstrip().endswith(MARK)}


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@pytest.fixture(scope="module")
def mypy_errors() -> dict[str, set[int]]:
    """file name -> lines with a mypy error (one run over all case files)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            *map(str, CASES),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode not in (0, 1) or "Traceback" in proc.stderr:
        pytest.fail(f"mypy did not run: {proc.stderr[-2000:]}")
    found: dict[str, set[int]] = {}
    pattern = re.compile(r"^(?P<file>[^:\n]+\.py):(?P<line>\d+)(?::\d+)?: error:")
    for line in proc.stdout.splitlines():
        m = pattern.match(line)
        if m:
            found.setdefault(Path(m["file"]).name, set()).add(int(m["line"]))
    return found


@pytest.fixture(scope="module")
def pyright_errors() -> dict[str, set[int]]:
    """file name -> lines with a pyright error (one run over all case files, strict from pyproject)."""
    proc = subprocess.run(
        [_bin("pyright"), "--outputjson", "--pythonpath", sys.executable, *map(str, CASES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright did not run: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    found: dict[str, set[int]] = {}
    for diag in report.get("generalDiagnostics", []):
        if diag.get("severity") == "error":
            found.setdefault(Path(diag["file"]).name, set()).add(diag["range"]["start"]["line"] + 1)
    return found


def _compare(checker: str, case: Path, errors: dict[str, set[int]]) -> None:
    want = expected_lines(case)
    got = errors.get(case.name, set())
    lines = case.read_text().splitlines()
    missing = sorted(want - got)
    extra = sorted(got - want)
    report = [f"{checker}: {case.name}"]
    report += [f"  line {n} should be a type error: {lines[n - 1].strip()}" for n in missing]
    report += [f"  line {n} is an unexpected type error: {lines[n - 1].strip()}" for n in extra]
    assert (missing, extra) == ([], []), "\n".join(report)


def test_there_are_cases() -> None:
    assert CASES, "no tests/typing/cases_*.py files"
    assert all(expected_lines(c) for c in CASES), "every case file marks at least one expected error"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_mypy_flags_exactly_the_marked_lines(case: Path, mypy_errors: dict[str, set[int]]) -> None:
    _compare("mypy --strict", case, mypy_errors)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_pyright_flags_exactly_the_marked_lines(case: Path, pyright_errors: dict[str, set[int]]) -> None:
    _compare("pyright (strict)", case, pyright_errors)
