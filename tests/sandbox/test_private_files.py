"""An in-memory sandbox's private database files do not outlive its process, even a SIGKILLed one."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .helpers import banner

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"),
    reason="reads the process tree from /proc and waits on a pidfd",
)


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.update(int(c) for c in (task / "children").read_text().split())
    return out


def _wait_gone(pid: int) -> None:
    """Block until process ``pid`` (not our child) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], 60)  # a safety bound only: the watcher exits at once
        assert ready, "the watcher did not exit"
    finally:
        os.close(fd)


def test_a_sigkilled_sandbox_leaves_no_database_files(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinikfhir.cli", "sandbox", "--port", "0", "--key", "clk_test_kill123=org_kill"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)},
    )
    try:
        text = banner(proc.stdout)
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert base, text
        headers = {"x-api-key": "clk_test_kill123"}
        created = httpx.post(f"{base.group(1)}/v1/fhir/Patient", json={"resourceType": "Patient"}, headers=headers)
        assert created.status_code == 201
        assert httpx.get(f"{base.group(1)}/v1/fhir/Patient", headers=headers).json()["total"] == 1
        files = sorted(p.name for p in tmp_path.iterdir())
        assert any(re.fullmatch(r"clinikfhir-sandbox-.*\.db-wal", f) for f in files), files
        watchers = _children(proc.pid)  # the process that deletes the files once the sandbox is gone
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)
    for pid in watchers:
        _wait_gone(pid)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
