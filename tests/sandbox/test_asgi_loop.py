"""The ASGI app answers a few small GETs on the event loop itself: ``/health``, the CapabilityStatement
and the read of one resource or one of its versions (one primary-key look-up; in WAL mode a reader never
waits for the writer). Everything else goes to the worker pool. Shown with a pool of ONE worker held by a
create waiting for the store's writer: the reads are still answered, the other requests wait.
No sleeps and no timings: the writer is held until the test releases it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from clinikfhir.sandbox import ManualClock, Sandbox
from clinikfhir.sandbox._asgi import AsgiApp, on_the_loop

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
def test_which_gets_runon_the_loop(path: str, inline: bool) -> None:
    assert on_the_loop(path) is inline


async def test_reads_by_id_are_answered_while_the_only_worker_is_held() -> None:
    with Sandbox(clock=ManualClock()) as sb:
        app = AsgiApp(sb.gateway, workers=1)
        transport = httpx.ASGITransport(app=app)
        key = sb.create_key("org_a")
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", headers={"x-api-key": key}
            ) as c:
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
        finally:
            app.close()
        assert sb.internal_errors == []
