"""The ASGI app answers a few small GETs on the event loop itself: ``/health``, the CapabilityStatement
and the read of one resource or one of its versions (one primary-key look-up; in WAL mode a reader never
waits for the writer). Shown with a pool of ONE worker held by a create waiting for the store's writer:
the reads are still answered, the other requests wait. Small plain writes run on the loop too, but only
when no request is on the workers and no thread holds the writer: with the writer held they wait on a
worker, and the loop stays free. No sleeps and no timings: the writer is held until the test releases it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from clinikfhir.sandbox import ManualClock, Request, Sandbox
from clinikfhir.sandbox._asgi import SMALL_WRITE, SOLO_STREAK, AsgiApp, on_the_loop, small_write

from .test_async_transport import PATIENT, _after_started, writer_held


@pytest.mark.parametrize(
    ("path", "inline"),
    [
        ("/health", True),
        ("/v1/metadata", True),
        ("/v1/fhir/metadata", True),
        ("/v1/fhir/Patient/p1", True),
        ("/v1/fhir/Patient/p1/_history/2", True),
        ("/v1/fhir/Patient", False),  # a search
        ("/v1/fhir/Patient/_history", False),
        ("/v1/fhir/Patient/p1/_history", False),
        ("/v1/fhir/Patient/$everything", False),
        ("/v1/fhir/Patient/%24everything", False),  # escaped: may hide an operation
        ("/v1/fhir/Patient/p1/$everything", False),
        ("/v1/fhir/Patient/_search", False),
        ("/v1/fhir/Patient/p1/x/2", False),
        ("/v1/fhir/Patient/", False),
        ("/v1/fhir//p1", False),
        ("/v1/fhir", False),
    ],
)
def test_which_gets_run_on_the_loop(path: str, inline: bool) -> None:
    assert on_the_loop(path) is inline


def _client(app: AsgiApp, key: str, port: int = 123) -> httpx.AsyncClient:
    """A client of ``app`` (no sockets) over one "connection" from ``port``."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", port))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers={"x-api-key": key})


@contextlib.asynccontextmanager
async def _one_worker(sb: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A lone client of a fresh tenant on ``sb``'s ASGI app with a pool of one worker, past the
    streak of requests after which small ones are answered on the loop."""
    app = AsgiApp(sb.gateway, workers=1)
    try:
        async with _client(app, sb.create_key("org_a")) as c:
            for _ in range(SOLO_STREAK):
                assert (await c.get("/health")).status_code == 200
            yield c
    finally:
        app.close()


async def test_reads_by_id_are_answered_while_the_only_worker_is_held() -> None:
    with Sandbox(clock=ManualClock()) as sb:
        async with _one_worker(sb) as c:
            pid = (await c.post("/v1/fhir/Patient", json=PATIENT)).json()["id"]
            with writer_held(sb):
                create = asyncio.create_task(c.post("/v1/fhir/Patient", json=PATIENT))
                await _after_started()
                search = asyncio.create_task(c.get("/v1/fhir/Patient"))  # needs the held worker
                await _after_started()
                read = await c.get(f"/v1/fhir/Patient/{pid}")
                assert read.status_code == 200
                assert read.json()["id"] == pid
                assert (await c.get(f"/v1/fhir/Patient/{pid}/_history/1")).status_code == 200
                assert (await c.get("/v1/fhir/metadata")).status_code == 200
                assert (await c.get("/v1/fhir/Patient/absent")).status_code == 404
                assert not create.done()
                assert not search.done()
            assert (await create).status_code == 201
            assert (await search).json()["total"] == 2
        assert sb.internal_errors == []


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "size", "small"),
    [
        ("POST", "/v1/fhir/Patient", "", {}, 500, True),
        ("PUT", "/v1/fhir/Patient/p1", "", {}, 500, True),
        ("DELETE", "/v1/fhir/Patient/p1", "", {}, 0, True),
        ("POST", "/v1/fhir/Patient", "", {}, SMALL_WRITE, True),
        ("POST", "/v1/fhir/Patient", "", {}, SMALL_WRITE + 1, False),  # large: validation may take long
        ("POST", "/v1/fhir/Patient", "", {"if-none-exist": "identifier=x|1"}, 500, False),  # a search
        ("PUT", "/v1/fhir/Patient", "identifier=x|1", {}, 500, False),  # conditional update
        ("DELETE", "/v1/fhir/Patient", "identifier=x|1", {}, 0, False),
        ("PATCH", "/v1/fhir/Patient/p1", "", {}, 100, False),  # the patched resource may be large
        ("POST", "/v1/fhir", "", {}, 500, False),  # a Bundle
        ("POST", "/v1/fhir/Patient/_search", "", {}, 10, False),
        ("POST", "/v1/fhir/Patient/p1/$everything", "", {}, 10, False),
        ("POST", "/v1/fhir/Patient/%24validate", "", {}, 10, False),
        ("PUT", "/v1/fhir/Patient/p1/_history/1", "", {}, 10, False),
    ],
)
def test_which_writes_may_run_on_the_loop(
    method: str, path: str, query: str, headers: dict[str, str], size: int, small: bool
) -> None:
    assert small_write(Request(method, path, query, headers, b"x" * size)) is small


async def test_small_writes_are_answered_on_the_loop_only_when_the_writer_is_free() -> None:
    with Sandbox(clock=ManualClock()) as sb:
        async with _one_worker(sb) as c:
            created = await c.post("/v1/fhir/Patient", json=PATIENT)  # on the loop: nothing else runs
            assert created.status_code == 201
            pid = created.json()["id"]
            with writer_held(sb):
                update = asyncio.create_task(c.put(f"/v1/fhir/Patient/{pid}", json={**PATIENT, "id": pid}))
                await _after_started()  # on the loop it would have blocked it until the writer is free
                assert (await c.get("/health")).status_code == 200
                assert (await c.get(f"/v1/fhir/Patient/{pid}")).json()["meta"]["versionId"] == "1"
                assert not update.done()
            assert (await update).status_code == 200
            assert (await c.delete(f"/v1/fhir/Patient/{pid}")).status_code == 204
            assert (await c.get(f"/v1/fhir/Patient/{pid}/_history/2")).status_code == 200
        assert sb.internal_errors == []


async def test_with_several_connections_active_reads_go_to_the_workers() -> None:
    with Sandbox(clock=ManualClock()) as sb:
        app = AsgiApp(sb.gateway, workers=1)
        key = sb.create_key("org_a")
        try:
            async with _client(app, key, 1) as a, _client(app, key, 2) as b:
                pid = (await a.post("/v1/fhir/Patient", json=PATIENT)).json()["id"]
                for _ in range(SOLO_STREAK):
                    assert (await a.get(f"/v1/fhir/Patient/{pid}")).status_code == 200
                with writer_held(sb):
                    create = asyncio.create_task(a.post("/v1/fhir/Patient", json=PATIENT))
                    await _after_started()
                    read = asyncio.create_task(b.get(f"/v1/fhir/Patient/{pid}"))  # another connection
                    await _after_started()
                    assert (await b.get("/health")).status_code == 200  # no store: always on the loop
                    assert not read.done()  # it waits for the one worker, which the create holds
                    assert not create.done()
                assert (await create).status_code == 201
                assert (await read).status_code == 200
        finally:
            app.close()
        assert sb.internal_errors == []
