"""Every example in ``docs/`` runs, against the sandbox: Python blocks and shell blocks.

The convention (also on the docs' home page):

- Each fenced ``python`` block of a page runs, in order, in one namespace per page (a page reads as
  one session), with ``CLINIK_API_KEY`` and ``CLINIK_BASE_URL`` naming a fresh tenant of a sandbox
  served by uvicorn on 127.0.0.1, and the working directory a fresh temporary folder.
- ``<!-- docs: pytest -->`` on the line before a block: the block is a pytest test file; the page's
  such blocks run together in one ``python -m pytest`` subprocess (the clinikfhir plugin loads from
  its entry point, no conftest), and every test in them must pass.
- ``<!-- docs: file PATH -->`` before a block: its text is written to ``PATH`` in the page's folder
  (for the shell blocks after it) and beside those test files (seed data for them).
- Each fenced ``sh`` block runs with ``bash -euo pipefail`` in the page's folder, in page order with the
  Python blocks, the same ``CLINIK_*`` variables set and this interpreter's ``bin`` first on ``PATH``
  (so ``clinikfhir`` is the command under test); it must exit 0 without a traceback. A command that
  is meant to fail is written ``cmd || echo "exit code $?"``.
- ``<!-- docs: serve -->`` before an ``sh`` block: each line is a command that serves until Ctrl-C
  (``clinikfhir sandbox ...``); each is started with ``--port 0`` added, must print its
  ``listening on`` banner, then gets Ctrl-C and must exit 0 or 130 (interrupted).
- ``<!-- docs: not run (REASON) -->`` before a block: not executed. Kept to very few (see
  ``MAX_NOT_RUN``, per language) and each must give its reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clinikfhir.sandbox import Sandbox

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
DIRECTIVE = re.compile(r"<!--\s*docs:\s*(?P<what>[^>]*?)\s*-->\s*$")
MAX_NOT_RUN = 3
SHELL = frozenset({"sh", "bash", "shell", "console"})


@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    directive: str  # "", "pytest", "file PATH", "not run (...)"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found: list[Block] = []
    for match in FENCE.finditer(text):
        start = match.start()
        before = text[:start].rstrip("\n").rsplit("\n", 1)[-1]
        directive = DIRECTIVE.search(before)
        indent = len(match.group("indent"))
        code = "\n".join(line[indent:] for line in match.group("body").splitlines())
        found.append(
            Block(
                page=str(path.relative_to(DOCS)),
                line=text.count("\n", 0, start) + 1,
                lang=match.group("lang"),
                code=code + "\n",
                directive=directive.group("what") if directive else "",
            )
        )
    return found


PAGES = sorted(p for p in DOCS.rglob("*.md") if "reference" not in p.parts)
ALL = [b for p in PAGES for b in blocks(p)]


@pytest.fixture(scope="module")
def served() -> Iterator[Sandbox]:
    with Sandbox.serve(port=0) as sb:
        yield sb


@pytest.fixture
def page_env(served: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("CLINIK_API_KEY", served.create_key(f"org_docs_{tmp_path.name[-12:]}"))
    monkeypatch.setenv("CLINIK_BASE_URL", served.base_url)
    monkeypatch.chdir(tmp_path)
    return served


def test_the_docs_have_examples_and_few_are_not_run() -> None:
    python = [b for b in ALL if b.lang == "python"]
    assert len(python) >= 20
    not_run = [b for b in python if b.directive.startswith("not run")]
    assert len(not_run) <= MAX_NOT_RUN, [f"{b.page}:{b.line}" for b in not_run]
    shell = [b for b in ALL if b.lang in SHELL]
    assert len(shell) >= 8
    shell_not_run = [b for b in shell if b.directive.startswith("not run")]
    assert len(shell_not_run) <= MAX_NOT_RUN, [f"{b.page}:{b.line}" for b in shell_not_run]
    for b in not_run + shell_not_run:
        assert re.fullmatch(r"not run \(.+\)", b.directive), f"{b.page}:{b.line}: say why it is not run"
    for b in ALL:
        assert b.directive == "" or re.fullmatch(r"pytest|serve|file \S+|not run \(.+\)", b.directive), (
            f"{b.page}:{b.line}: unknown directive {b.directive!r}"
        )
        assert b.directive != "serve" or b.lang in SHELL, f"{b.page}:{b.line}: serve is for shell blocks"
    assert {b.lang for b in ALL} <= {"python", "json", "ini", "text", "toml", *SHELL}, "a block in another language"


@pytest.mark.parametrize("page", [str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run(page: str, page_env: Sandbox, tmp_path: Path) -> None:
    page_blocks = [b for b in ALL if b.page == page]
    namespace: dict[str, object] = {"__name__": f"docs_{Path(page).stem.replace('-', '_')}"}
    tests: list[Block] = []
    files: list[Block] = []
    for block in page_blocks:
        if block.directive == "pytest":
            tests.append(block)
        elif block.directive.startswith("file "):
            files.append(block)
            target = tmp_path / block.directive.removeprefix("file ").strip()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
        elif block.lang in SHELL and block.directive == "serve":
            for command in block.code.splitlines():
                serve_and_stop(page, block, command)
        elif block.lang in SHELL and not block.directive:
            run_shell(page, block)
        elif block.lang == "python" and not block.directive:
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"docs/{page}, block at line {block.line} failed: {exc!r}") from exc
    assert page_env.internal_errors == []
    if tests:
        run_pytest_blocks(page, tests, files, tmp_path / "pytest-run")


def shell_env() -> dict[str, str]:
    """The test's environment (the ``CLINIK_*`` variables of the page) with this interpreter's bin first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update({"NO_COLOR": "1", "COLUMNS": "120", "PYTHONUNBUFFERED": "1"})
    return env


def run_shell(page: str, block: Block) -> None:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=shell_env(),
    )
    where = f"docs/{page}, sh block at line {block.line}"
    assert proc.returncode == 0, f"{where} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stdout + proc.stderr, f"{where}:\n{proc.stderr[-3000:]}"


def serve_and_stop(page: str, block: Block, command: str) -> None:
    """Start a serving command (``--port 0`` added), wait for its banner, Ctrl-C it: it must exit 0."""
    args = shlex.split(command, comments=True)
    if not args:
        return
    where = f"docs/{page}, serve block at line {block.line}: {' '.join(args)}"
    proc = subprocess.Popen(
        [*args, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=shell_env()
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # blocks until the server prints it, or exits
        assert "listening on http://127.0.0.1:" in banner, f"{where}: no banner: {banner!r}"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, 130), f"{where} exited {proc.returncode}:\n{out[-2000:]}{err[-2000:]}"  # 130: Ctrl-C
    assert "Traceback" not in out + err, f"{where}:\n{err[-3000:]}"


def run_pytest_blocks(page: str, tests: list[Block], files: list[Block], where: Path) -> None:
    where.mkdir()
    for i, block in enumerate(tests):
        (where / f"test_docs_{i}.py").write_text(block.code, encoding="utf-8")
    for block in files:
        target = where / block.directive.removeprefix("file ").strip()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code, encoding="utf-8")
    (where / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLINIK_", "PYTEST_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(where)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, f"docs/{page}: the pytest examples failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
    written = sum(len(re.findall(r"^(?:async )?def test_", b.code, re.M)) for b in tests)
    assert re.search(rf"\b{written} passed\b", proc.stdout), proc.stdout[-2000:]  # every test ran and passed
    assert "skipped" not in proc.stdout
