"""What a user of the published package sees: the wheel, installed in a fresh venv outside the
repository, type-checked by ``mypy --strict`` and pyright (strict) from a directory of its own.

Checked there: the README's "Using it" example (no error in either checker) and ``installed/*.py``
(exactly the lines marked ``# expect-type-error`` fail, every ``reveal_type`` shows the type in its
``# reveal:`` comment). In-tree typing tests cannot catch an export that only works from the source
tree; this one does. Slow (a wheel build, a venv, two checkers): marked ``slow``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CASES = sorted((HERE / "installed").glob("*.py"))
MARK = "# expect-type-error"
REVEAL = re.compile(r"# reveal: (?P<type>.+)$")

pytestmark = pytest.mark.slow


def readme_example() -> str:
    """The first ``python`` block under the README's "Using it" heading."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Using it") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under 'Using it'"
    return match.group(1)


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _run(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a user's project directory with the cases copied in, the python of a venv with the wheel)."""
    base = tmp_path_factory.mktemp("installed")
    wheels = base / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)], base)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("clinikfhir-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], base)
    assert installed.returncode == 0, installed.stderr[-2000:]
    project = base / "project"
    project.mkdir()
    (project / "readme_using_it.py").write_text(readme_example())
    for case in CASES:
        shutil.copy(case, project / case.name)
    (project / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.11"}))
    return project, python


def _files(project: Path) -> list[str]:
    return sorted(p.name for p in project.glob("*.py"))


@pytest.fixture(scope="module")
def mypy_report(user_dir: tuple[Path, Path]) -> tuple[dict[str, set[int]], dict[tuple[str, int], str]]:
    project, python = user_dir
    proc = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-executable",
            str(python),
            "--no-error-summary",
            "--no-pretty",
            "--cache-dir",
            str(project / ".mypy_cache"),
            *_files(project),
        ],
        project,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors: dict[str, set[int]] = {}
    reveals: dict[tuple[str, int], str] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(?P<file>[^:]+\.py):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*)$", line)
        if not m:
            continue
        key = (m["file"], int(m["line"]))
        if m["kind"] == "error":
            errors.setdefault(m["file"], set()).add(key[1])
        elif m["msg"].startswith("Revealed type is "):
            reveals[key] = _short(m["msg"][len("Revealed type is ") :].strip('"'))
    return errors, reveals


@pytest.fixture(scope="module")
def pyright_report(user_dir: tuple[Path, Path]) -> tuple[dict[str, set[int]], dict[tuple[str, int], str]]:
    project, python = user_dir
    proc = _run([_bin("pyright"), "--outputjson", "--pythonpath", str(python), *_files(project)], project)
    report = json.loads(proc.stdout)
    errors: dict[str, set[int]] = {}
    reveals: dict[tuple[str, int], str] = {}
    for diag in report.get("generalDiagnostics", []):
        name, line = Path(diag["file"]).name, diag["range"]["start"]["line"] + 1
        if diag["severity"] == "error":
            errors.setdefault(name, set()).add(line)
        m = re.match(r'^Type of ".*" is "(?P<type>.*)"$', diag["message"], re.S)
        if diag["severity"] == "information" and m:
            reveals[(name, line)] = _short(m["type"])
    return errors, reveals


def _short(type_text: str) -> str:
    """``clinikfhir.client.Clinik`` -> ``Clinik``; ``typing.Coroutine`` -> ``Coroutine``."""
    return re.sub(r"\b(?:[A-Za-z_][A-Za-z0-9_]*\.)+(?=[A-Za-z_])", "", type_text)


def _expected(name: str) -> tuple[set[int], dict[int, str]]:
    lines = (HERE / "installed" / name).read_text().splitlines()
    errors = {n for n, line in enumerate(lines, 1) if line.rstrip().endswith(MARK)}
    reveals = {n: m["type"].strip() for n, line in enumerate(lines, 1) if (m := REVEAL.search(line))}
    return errors, reveals


def test_there_are_cases() -> None:
    assert CASES
    for case in CASES:
        errors, reveals = _expected(case.name)
        assert errors
        assert reveals


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_the_readme_example_type_checks_against_the_installed_wheel(
    checker: str, request: pytest.FixtureRequest
) -> None:
    errors, _ = request.getfixturevalue(f"{checker}_report")
    assert errors.get("readme_using_it.py", set()) == set()


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_exactly_the_marked_mistakes_fail_against_the_installed_wheel(
    checker: str, case: str, request: pytest.FixtureRequest
) -> None:
    errors, _ = request.getfixturevalue(f"{checker}_report")
    want, _ = _expected(case)
    assert sorted(errors.get(case, set())) == sorted(want)


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_every_step_of_a_chain_reveals_its_type(checker: str, case: str, request: pytest.FixtureRequest) -> None:
    _, reveals = request.getfixturevalue(f"{checker}_report")
    _, want = _expected(case)
    got = {line: reveals.get((case, line)) for line in want}
    assert got == want
