"""The async in-process transport runs the sandbox on worker threads, never on the caller's event
loop: while one request is held (here: the store's writer is busy), other tasks of the loop, and
other requests, go on. No sleeps and no timings: each test holds the writer until it releases it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from clinikfhir.sandbox import ManualClock, Sandbox

PATIENT = {"resourceType": "Patient", "name": [{"family": "Async"}]}


@contextmanager
def writer_held(sb: Sandbox) -> Iterator[None]:
    """Another thread holds the store's writer for the block (writes wait; reads do not)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sb.store.write():
            held.set()
            release.wait(timeout=60)  # a bound against a hang if the test fails: not a timing

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(timeout=60)
    try:
        yield
    finally:
        release.set()
        thread.join(timeout=60)


async def _after_started() -> None:
    """Return once a task scheduled now has run, so every task scheduled before it has started (and,
    had it run the sandbox on the event loop, would have blocked the loop until now)."""
    progressed = asyncio.Event()

    async def later() -> None:
        progressed.set()

    marker = asyncio.create_task(later())
    await progressed.wait()
    await marker


def _client(sb: Sandbox, key: str, timeout: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=sb.base_url, transport=sb.async_transport(), headers={"x-api-key": key}, timeout=timeout
    )


async def test_a_held_request_leaves_the_event_loop_free() -> None:
    with Sandbox(clock=ManualClock()) as sb:
        async with _client(sb, sb.create_key("org_a")) as c:
            pid = (await c.post("/v1/fhir/Patient", json=PATIENT)).json()["id"]
            with writer_held(sb):
                create = asyncio.create_task(c.post("/v1/fhir/Patient", json=PATIENT))
                # another task runs after the create has started: on the loop, the create would hold it
                await _after_started()
                r = await c.get(f"/v1/fhir/Patient/{pid}")  # a read is answered meanwhile
                assert r.status_code == 200
                assert not create.done()  # the create still waits for the writer, off the loop
            assert (await create).status_code == 201
            assert (await c.get("/v1/fhir/Patient")).json()["total"] == 2
        assert sb.internal_errors == []


async def test_one_key_holds_at_most_half_of_the_workers() -> None:
    with Sandbox(clock=ManualClock()) as sb:
        async with _client(sb, sb.create_key("org_busy")) as busy, _client(sb, sb.create_key("org_other")) as other:
            pid = (await other.post("/v1/fhir/Patient", json=PATIENT)).json()["id"]
            with writer_held(sb):
                # more creates than there are workers: with no share per key they would take all 8
                creates = [asyncio.create_task(busy.post("/v1/fhir/Patient", json=PATIENT)) for _ in range(10)]
                await _after_started()
                r = await other.get(f"/v1/fhir/Patient/{pid}")
                assert r.status_code == 200
                assert not any(t.done() for t in creates)
            assert [(await t).status_code for t in creates] == [201] * 10
            assert (await busy.get("/v1/fhir/Patient")).json()["total"] == 10


async def test_the_read_timeout_stops_the_wait_for_a_held_request_on_the_system_clock(tmp_path: Path) -> None:
    db = tmp_path / "timeout.db"
    with Sandbox(db) as sb:
        key = sb.create_key("org_a")
        async with _client(sb, key, timeout=0.2) as c:
            with writer_held(sb), pytest.raises(httpx.ReadTimeout):  # held far beyond the timeout: no race
                await c.post("/v1/fhir/Patient", json=PATIENT)
    # close() waited for the worker: like a server's, the request ran on once the writer was free
    with Sandbox(db) as sb, sb.client(sb.add_key(key, "org_a")) as c:
        assert c.get("/v1/fhir/Patient").json()["total"] == 1
