"""What a server can make the client do is bounded: a response size cap checked on the decompressed
stream while reading (a gzip bomb stops early), and a total deadline per attempt (a trickling server
cannot stretch a call past ``timeout``). Over a real socket on loopback, sync and async."""

from __future__ import annotations

import gzip
import json
import threading
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from clinikfhir import AsyncClinik, Clinik, RetryPolicy
from clinikfhir.errors import ClinikError, DeadlineExceededError, ResponseTooLargeError
from clinikfhir.models import Patient

from ._rawserver import RawServer, response
from .conftest import Either

PATIENT = json.dumps({"resourceType": "Patient", "id": "p1", "gender": "male"}).encode()


def _bomb(total: int) -> bytes:
    """``total`` bytes of a JSON-looking body, gzip-compressed (~1000:1)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    parts = [z.compress(b'{"resourceType":"Patient","id":"p1","x":"')]
    parts += [z.compress(block) for _ in range(total // len(block))]
    parts.append(z.compress(b'"}'))
    parts.append(z.flush())
    return b"".join(parts)


BOMB = _bomb(200 << 20)  # 200 MiB inflated


@pytest.fixture
def server() -> Iterator[RawServer]:
    s = RawServer()
    yield s
    s.close()


@pytest.fixture(params=["sync", "async"])
async def make(request: pytest.FixtureRequest, server: RawServer) -> AsyncIterator[Any]:
    made: list[Either] = []

    def factory(**kwargs: Any) -> Either:
        cls = AsyncClinik if request.param == "async" else Clinik
        client = Either(cls("clk_test_bounds1", base_url=server.url, **kwargs))
        made.append(client)
        return client

    yield factory
    for c in made:
        await c.close()


def test_the_bomb_is_small_on_the_wire() -> None:
    assert len(BOMB) < 400_000


async def test_a_gzip_bomb_stops_at_the_cap_without_being_inflated(make: Any, server: RawServer) -> None:
    server.always(response(200, BOMB, {"content-encoding": "gzip", "content-type": "application/fhir+json"}))
    client = make(retries=0, max_response_bytes=8 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError) as info:
            await client.read(Patient, "p1")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20  # 8 MiB kept at most (+ pieces), never the 200 MiB
    assert isinstance(info.value, ClinikError)
    assert "max_response_bytes" in str(info.value)


async def test_the_default_cap_is_64_mib_and_a_small_gzip_body_is_read(make: Any, server: RawServer) -> None:
    body = gzip.compress(PATIENT)
    server.always(response(200, body, {"content-encoding": "gzip", "content-type": "application/fhir+json"}))
    client = make(retries=0)
    assert client.raw._core.config.max_response_bytes == 64 << 20
    assert (await client.read(Patient, "p1")).gender == "male"
    assert server.seen[-1].headers["accept-encoding"] == "gzip, deflate"


async def test_a_declared_length_over_the_cap_is_refused_before_reading(make: Any, server: RawServer) -> None:
    server.always(response(200, PATIENT, {"content-type": "application/fhir+json"}))
    with pytest.raises(ResponseTooLargeError):
        await make(retries=0, max_response_bytes=len(PATIENT) - 1).read(Patient, "p1")
    assert (await make(retries=0, max_response_bytes=len(PATIENT)).read(Patient, "p1")).id == "p1"


async def test_a_trickling_server_cannot_stretch_an_attempt_past_its_timeout(make: Any, server: RawServer) -> None:
    # The server never pauses long enough for httpx's per-read timeout; only the attempt's total
    # deadline can stop it. Time is the policy's injected clock, which moves 10 s at every reading,
    # and each reading lets the server send one more byte of the body: lock step, no wall clock.
    # (The attempt's httpx timeouts are cut to what is left on that clock: 20 real seconds at the
    # least, so a busy machine cannot turn this into a read timeout.)
    gate = threading.Semaphore(0)
    server.always(response(200, PATIENT, {"content-type": "application/fhir+json"}), pace=gate)
    readings: list[float] = []

    def clock() -> float:
        gate.release()
        readings.append(10.0 * len(readings))
        return readings[-1]

    client = make(timeout=30.0, retries=RetryPolicy(max_retries=0, deadline=60.0, clock=clock))
    with pytest.raises(DeadlineExceededError, match="attempt 1"):
        await client.read(Patient, "p1")
    assert 30.0 < readings[-1] < 10.0 * len(PATIENT)  # stopped by the deadline, before the body's end

    # the same trickle (its own gate: the first answer's thread may still wait on the old one),
    # read on a clock that does not move: the body arrives and is read
    gate2 = threading.Semaphore(0)
    server.always(response(200, PATIENT, {"content-type": "application/fhir+json"}), pace=gate2)

    def still() -> float:
        gate2.release()
        return 0.0

    assert (await make(timeout=30.0, retries=RetryPolicy(max_retries=0, clock=still)).read(Patient, "p1")).id == "p1"


def test_max_response_bytes_is_checked() -> None:
    from clinikfhir.errors import ConfigurationError

    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigurationError):
            Clinik("clk_test_bounds1", max_response_bytes=bad)  # type: ignore[arg-type]
