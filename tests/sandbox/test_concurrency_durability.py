"""Concurrent writers from threads and event loops; a file store survives restarts; the CLI serves."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from clinikfhir.sandbox import Sandbox

from .helpers import banner, patient

# the sandbox command as `clinikfhir sandbox` runs it (its own entry point: the top-level CLI also
# loads the demo command, which is not part of the sandbox)
CLI = [sys.executable, "-m", "clinikfhir.cli", "sandbox"]


def _hammer(sb: Sandbox, key: str, pid: str, n: int, errors: list[str]) -> None:
    with sb.client(key) as c:
        for i in range(n):
            r = c.post("/v1/fhir/Patient", json=patient())
            if r.status_code != 201:
                errors.append(r.text)
            ops = [{"op": "replace", "path": "/gender", "value": "female" if i % 2 else "male"}]
            r = c.patch(f"/v1/fhir/Patient/{pid}", json=ops)
            if r.status_code != 200:
                errors.append(r.text)


@pytest.mark.parametrize("mode", ["inproc-memory", "http-file"])
def test_threads_do_not_corrupt_the_store(mode: str, tmp_path: Path) -> None:
    db = tmp_path / "store.db" if mode == "http-file" else None
    with Sandbox(db) as sb:
        if mode.startswith("http"):
            sb.start()
        key = sb.create_key("org_threads")
        pid = sb.client(key).post("/v1/fhir/Patient", json=patient()).json()["id"]
        errors: list[str] = []
        threads = [threading.Thread(target=_hammer, args=(sb, key, pid, 15, errors)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        c = sb.client(key)
        assert c.get("/v1/fhir/Patient", params={"_summary": "count"}).json()["total"] == 1 + 6 * 15
        # every patch got its own version: 1 + 90 patches, no lost update, contiguous history
        assert c.get(f"/v1/fhir/Patient/{pid}").json()["meta"]["versionId"] == str(1 + 6 * 15)
        hist = c.get(f"/v1/fhir/Patient/{pid}/_history", params={"_count": 100}).json()
        assert [int(e["resource"]["meta"]["versionId"]) for e in hist["entry"]] == list(range(91, 0, -1))
        assert sb.internal_errors == []


def test_event_loops_in_several_threads() -> None:
    with Sandbox() as sb:
        key = sb.create_key("org_loops")

        async def work() -> None:
            async with httpx.AsyncClient(
                base_url="http://localhost", transport=sb.async_transport(), headers={"x-api-key": key}
            ) as c:
                results = await asyncio.gather(*[c.post("/v1/fhir/Patient", json=patient()) for _ in range(20)])
                assert {r.status_code for r in results} == {201}

        threads = [threading.Thread(target=asyncio.run, args=(work(),)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sb.client(key).get("/v1/fhir/Patient").json()["total"] == 80


def test_file_store_survives_restart_and_uses_wal(tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    with Sandbox(db) as sb:
        key = sb.add_key("clk_test_durable1", "org_durable")
        c = sb.client(key)
        pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
        c.patch(f"/v1/fhir/Patient/{pid}", json={"gender": "female"})
    with Sandbox(db) as sb:
        c = sb.client(sb.add_key("clk_test_durable1", "org_durable"))
        body = c.get(f"/v1/fhir/Patient/{pid}").json()
        assert body["gender"] == "female"
        assert body["meta"]["versionId"] == "2"
        assert c.get("/v1/fhir/Patient", params={"_id": pid}).json()["total"] == 1
        assert c.get(f"/v1/fhir/Patient/{pid}/_history").json()["total"] == 2
        other = sb.client(sb.create_key("org_else"))
        assert other.get(f"/v1/fhir/Patient/{pid}").status_code == 404
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = [r[1] for r in conn.execute("PRAGMA table_info(resources)")]
        assert cols == ["env", "type", "id", "tenant", "version", "last_updated", "deleted", "body"]
        cols = [r[1] for r in conn.execute("PRAGMA table_info(history)")]
        assert cols == ["env", "type", "id", "tenant", "version", "last_updated", "deleted", "method", "body"]
        row = conn.execute("SELECT tenant, version, deleted FROM resources WHERE id=?", (pid,)).fetchone()
        assert row == ("org_durable", 2, 0)
    finally:
        conn.close()


def test_a_file_made_with_the_unused_tenant_index_loses_it_and_keeps_its_data(tmp_path: Path) -> None:
    """Older files carry resources_by_tenant, which no query used: it is dropped on open."""
    db = tmp_path / "older.db"
    with Sandbox(db) as sb:
        c = sb.client(sb.add_key("clk_test_older01", "org_older"))
        pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE INDEX resources_by_tenant ON resources(env, tenant, type, last_updated)")
        conn.commit()
    finally:
        conn.close()
    with Sandbox(db) as sb:
        c = sb.client(sb.add_key("clk_test_older01", "org_older"))
        assert c.get(f"/v1/fhir/Patient/{pid}").status_code == 200
        assert c.get("/v1/fhir/Patient", params={"_id": pid}).json()["total"] == 1
    conn = sqlite3.connect(db)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "resources_by_tenant" not in names
        assert "history_by_type" in names
    finally:
        conn.close()


def test_cli_serves_and_prints_keys(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    proc = subprocess.Popen(
        [
            *CLI,
            "--port",
            "0",
            "--db",
            str(db),
            "--key",
            "clk_test_cli123=org_cli",
            "--key",
            "clk_test_clireader=org_cli:read",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert base, text
        assert "clk_test_cli123  tenant=org_cli  scope=*" in text
        assert "clk_test_clireader  tenant=org_cli  scope=read" in text
        url = base.group(1)
        r = httpx.post(f"{url}/v1/fhir/Patient", json=patient(), headers={"x-api-key": "clk_test_cli123"})
        assert r.status_code == 201
        r = httpx.post(f"{url}/v1/fhir/Patient", json=patient(), headers={"x-api-key": "clk_test_clireader"})
        assert r.status_code == 403
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert db.exists()


def test_cli_creates_demo_keys_when_none_given() -> None:
    proc = subprocess.Popen(
        [*CLI, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        text = banner(proc.stdout)
        keys = re.findall(r"(clk_test_[A-Za-z0-9]+)  tenant=(\S+)", text)
        assert {t for _, t in keys} == {"org_demo", "org_other"}
        url = re.search(r"listening on (\S+)", text).group(1)  # type: ignore[union-attr]
        r = httpx.get(f"{url}/v1/fhir/Patient", headers={"x-api-key": keys[0][0]})
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


def test_cli_rejects_bad_key_spec() -> None:
    proc = subprocess.run(
        [*CLI, "--port", "0", "--key", "not-a-key=org"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "clk_test_" in proc.stderr
