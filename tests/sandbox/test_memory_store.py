"""The in-memory sandbox is served from a private temporary WAL database: each ``Sandbox()`` is fresh,
nothing of it persists after close, and its readers do not queue behind a write (as with a file)."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import httpx

from clinikfhir.sandbox import Sandbox
from clinikfhir.sandbox._store import WAL_AUTOCHECKPOINT, WRITER_CACHE_KIB

PATIENT = {"resourceType": "Patient", "name": [{"family": "Memory"}]}


def _files(name: str) -> list[str]:
    return [p for p in (name, f"{name}-wal", f"{name}-shm") if os.path.exists(p)]


def test_each_in_memory_sandbox_is_fresh_and_leaves_nothing_behind() -> None:
    first, second = Sandbox(), Sandbox()
    try:
        assert first.store.path is None  # "in memory": no database the caller named
        assert first.store.file != second.store.file
        with first.client(first.create_key("org_a")) as a:
            assert a.post("/v1/fhir/Patient", json=PATIENT).status_code == 201
            assert a.get("/v1/fhir/Patient").json()["total"] == 1
        with second.client(second.create_key("org_a")) as b:
            assert b.get("/v1/fhir/Patient").json()["total"] == 0
        name = first.store.file
        assert _files(name)
    finally:
        first.close()
        second.close()
    assert _files(name) == []
    assert _files(second.store.file) == []
    third = Sandbox()  # a new one never sees an earlier one's data, even with the same key
    with third, third.client(third.create_key("org_a")) as c:
        assert c.get("/v1/fhir/Patient").json()["total"] == 0


def test_an_in_memory_sandbox_that_is_never_closed_is_removed_when_collected() -> None:
    sb = Sandbox()
    with sb.client(sb.create_key("org_a")) as c:
        assert c.post("/v1/fhir/Patient", json=PATIENT).status_code == 201
    name = sb.store.file
    assert _files(name)
    del sb, c
    gc.collect()
    assert _files(name) == []


def _read_while_writer_is_held(sb: Sandbox, client: httpx.Client, pid: str) -> list[int]:
    """Statuses of a read and a search made (on another thread) while the store's writer is held; a
    read that waits for the writer is still waiting when the bound runs out, and its status is missing."""
    statuses: list[int] = []

    def reader() -> None:
        statuses.append(client.get(f"/v1/fhir/Patient/{pid}").status_code)
        statuses.append(client.get("/v1/fhir/Patient", params={"family": "Memory"}).status_code)

    with sb.store.write():
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(timeout=30)  # a bound against a hang, not a timing: the reads need no writer
        done = list(statuses)
    thread.join(timeout=60)
    return done


def test_in_process_reads_do_not_wait_for_a_write_in_memory() -> None:
    with Sandbox() as sb, sb.client(sb.create_key("org_a"), timeout=30) as c:
        pid = c.post("/v1/fhir/Patient", json=PATIENT).json()["id"]
        # before, the in-memory store had one connection behind the write lock: this read waited for it
        assert _read_while_writer_is_held(sb, c, pid) == [200, 200]


def test_served_reads_do_not_wait_for_a_write_in_memory() -> None:
    with Sandbox.serve(port=0) as sb:
        with httpx.Client(base_url=sb.base_url, headers={"x-api-key": sb.create_key("org_a")}, timeout=30) as c:
            pid = c.post("/v1/fhir/Patient", json=PATIENT).json()["id"]
            assert _read_while_writer_is_held(sb, c, pid) == [200, 200]
        assert sb.internal_errors == []


def test_the_writer_checkpoints_rarely_and_keeps_a_larger_page_cache_in_memory_and_in_a_file(tmp_path: Path) -> None:
    """Fewer checkpoints and fewer pages read again per write transaction (see WAL_AUTOCHECKPOINT,
    WRITER_CACHE_KIB); a private store skips only the fsync."""
    for sandbox in (Sandbox(), Sandbox(tmp_path / "s.db")):
        try:
            writer = sandbox.store._writer  # pyright: ignore[reportPrivateUsage]
            assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_AUTOCHECKPOINT
            assert writer.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_KIB
            assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            expected = 1 if sandbox.store.path is not None else 0  # NORMAL for a file, OFF in memory
            assert writer.execute("PRAGMA synchronous").fetchone()[0] == expected
        finally:
            sandbox.close()
