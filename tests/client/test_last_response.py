"""``last_response`` keeps no per-client context state (nothing leaks), and ``capture_response()``
gives per-call metadata that is safe across threads and tasks."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

from clinikfhir import AsyncClinik, Clinik, ResponseMeta
from clinikfhir.models import Patient
from clinikfhir.sandbox import Sandbox


def _metas() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, ResponseMeta))


def test_200_clients_created_used_closed_and_deleted_leave_nothing_alive() -> None:
    sb = Sandbox()
    key = sb.create_key("org_leak")
    transport = sb.transport()
    with Clinik(key, base_url=sb.base_url, transport=transport) as seed:
        pid = seed.create(Patient(gender="male")).id
    gc.collect()
    before = _metas()
    refs: list[weakref.ref[Clinik]] = []
    for _ in range(200):
        clinik = Clinik(key, base_url=sb.base_url, transport=transport)
        clinik.read(Patient, pid)
        assert clinik.last_response is not None
        clinik.close()
        refs.append(weakref.ref(clinik))
        del clinik
    gc.collect()
    assert all(r() is None for r in refs)
    assert _metas() - before < 5  # not 200
    sb.close()


def test_capture_response_is_per_thread() -> None:
    sb = Sandbox()
    key = sb.create_key("org_cap")
    with Clinik(key, base_url=sb.base_url, transport=sb.transport()) as clinik:
        ids = [clinik.create(Patient(gender="male")).id for _ in range(4)]
        seen: dict[str, str | None] = {}

        def worker(pid: str) -> None:
            for _ in range(5):
                with clinik.capture_response() as cap:
                    clinik.read(Patient, pid)
                assert cap.meta is not None
                seen[pid] = cap.meta.location or cap.meta.etag
                assert len(cap.metas) == 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(seen) == set(ids)
        assert clinik.last_response is not None  # the last response from any thread
    sb.close()


async def test_capture_response_is_per_task() -> None:
    sb = Sandbox()
    key = sb.create_key("org_task")
    async with AsyncClinik(key, base_url=sb.base_url, transport=sb.async_transport()) as clinik:
        made = [await clinik.create(Patient(gender="male")) for _ in range(3)]
        for p in made[:2]:
            await clinik.update(p)  # version 2 for the first two

        async def one(p: Patient) -> tuple[str, str | None]:
            with clinik.capture_response() as cap:
                await clinik.read(Patient, p.id)
            assert cap.meta is not None
            return str(p.id), cap.meta.version_id

        got = dict(await asyncio.gather(*(one(p) for p in made)))
        assert got == {str(made[0].id): "2", str(made[1].id): "2", str(made[2].id): "1"}
    sb.close()
