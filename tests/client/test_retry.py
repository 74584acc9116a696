"""Retries: what is retried, how long the client waits, and that no create is ever lost or duplicated."""

from __future__ import annotations

import json
import random

import pytest

from clinikfhir import Clinik, RetryPolicy
from clinikfhir._core import Done, Exchange, Wait
from clinikfhir.errors import NotFoundError, RateLimitError, ServerError
from clinikfhir.models import Identifier, Patient
from clinikfhir.sandbox import Sandbox

from ._rawserver import RawServer, Script, response
from .conftest import Env

FAST = RetryPolicy(max_retries=6, backoff_base=0.001, backoff_cap=0.004)


# ------------------------------------------------------------------------------ the policy itself


def test_full_jitter_stays_within_the_capped_exponential_window() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=10.0, rng=random.Random(7))
    for n in range(8):
        ceiling = min(10.0, 2.0**n)
        waits = [policy.backoff(n) for _ in range(300)]
        assert all(0 <= w < ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # the whole window is used, not a fixed delay


def test_retry_after_is_a_floor_on_the_wait() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=10.0, rng=random.Random(1))
    assert all(policy.backoff(0, retry_after=3.0) >= 3.0 for _ in range(200))
    assert all(policy.backoff(4, retry_after=0.5) >= 0.5 for _ in range(200))


def test_which_methods_and_statuses_are_retried() -> None:
    policy = RetryPolicy()
    assert policy.may_retry_method("GET", False)
    assert policy.may_retry_method("PUT", False)
    assert policy.may_retry_method("DELETE", False)
    assert not policy.may_retry_method("POST", False)
    assert not policy.may_retry_method("PATCH", False)
    assert policy.may_retry_method("POST", True)
    assert policy.retryable_status(429, "RATE_LIMITED")
    assert not policy.retryable_status(429, "MONTHLY_QUOTA_EXCEEDED")
    assert policy.retryable_status(500)
    assert policy.retryable_status(503)
    assert not policy.retryable_status(404)
    assert not policy.retryable_status(409)


def test_the_exchange_waits_at_least_the_sandboxs_retry_after() -> None:
    sb = Sandbox()
    key = sb.create_key("org_retry")
    transport = sb.transport()
    with Clinik(key, base_url=sb.base_url, transport=transport) as clinik:
        created = clinik.create(Patient(gender="male"))
        sb.faults.fail_next(1, status=429, retry_after=3)
        exchange = Exchange(clinik._core, clinik._core.call_read(Patient, created.id))
        step = exchange.on_response(transport.handle_request(exchange.begin()))
        assert isinstance(step, Wait)
        assert step.seconds >= 3
        done = exchange.on_response(transport.handle_request(exchange.begin()))
        assert isinstance(done, Done)
        assert done.value.id == created.id
    sb.close()


def test_no_retry_starts_past_the_deadline() -> None:
    server = RawServer()
    server.always(response(503, json.dumps({"code": "SERVICE_UNAVAILABLE", "message": "x"}), {"retry-after": "30"}))
    try:
        policy = RetryPolicy(max_retries=5, deadline=5.0)
        with Clinik("clk_test_x1", base_url=server.url, retries=policy) as clinik, pytest.raises(ServerError) as info:
            clinik.read(Patient, "p1")
        assert len(server.seen) == 1  # a 30 s Retry-After would end after the 5 s deadline
        assert info.value.meta is not None
        assert info.value.meta.retry_after == 30
    finally:
        server.close()


# ------------------------------------------------------------------------------- over the wire


async def test_a_burst_of_503s_and_429s_is_ridden_out(env: Env) -> None:
    client = env.make(retries=FAST)
    created = await client.create(Patient(gender="male"))
    env.sandbox.faults.fail_next(3, status=503, retry_after=0)
    assert (await client.read(Patient, created.id)).id == created.id
    assert client.last_response.attempts == 4
    env.sandbox.faults.fail_next(2, status=429, retry_after=0)
    page = await client.search_page(Patient)
    assert len(page) == 1
    assert page.meta.attempts == 3


async def test_a_burst_longer_than_the_retries_raises_the_last_error(env: Env) -> None:
    client = env.make(retries=RetryPolicy(max_retries=2, backoff_base=0.001, backoff_cap=0.002))
    env.sandbox.faults.fail_next(5, status=429, retry_after=0)
    with pytest.raises(RateLimitError) as info:
        await client.read(Patient, "anything")
    assert info.value.meta is not None
    assert info.value.meta.attempts == 3


async def test_client_errors_are_not_retried(env: Env) -> None:
    client = env.make(retries=FAST)
    with pytest.raises(NotFoundError):
        await client.read(Patient, "absent")
    assert client.last_response.attempts == 1


async def test_a_create_whose_response_is_lost_is_replayed_not_duplicated(env: Env) -> None:
    client = env.make(retries=FAST)
    env.sandbox.faults.drop_after_commit(1)
    created = await client.create(Patient(gender="male", identifier=[Identifier(system="urn:t", value="once")]))
    assert client.last_response.attempts == 2
    page = await client.search_page(Patient, {"identifier": "urn:t|once"})
    assert [p.id for p in page] == [created.id]


async def test_a_patch_whose_response_is_lost_is_applied_once(env: Env) -> None:
    from clinikfhir import JsonPatch

    client = env.make(retries=FAST)
    created = await client.create(Patient(gender="male"))
    env.sandbox.faults.drop_after_commit(1)
    patched = await client.patch(Patient, created.id, JsonPatch(Patient).add("/name", [{"family": "Once"}]))
    assert [n.family for n in patched.name] == ["Once"]
    assert patched.meta.versionId == "2"
    assert (await client.read(Patient, created.id)).meta.versionId == "2"


async def test_the_same_idempotency_key_is_sent_on_every_attempt_of_one_call() -> None:
    server = RawServer()
    calls = {"n": 0}

    def handler(seen: object) -> Script:
        calls["n"] += 1
        if calls["n"] % 3 != 0:
            return Script(response(503, "{}", {"retry-after": "0"}))
        return Script(response(201, json.dumps({"resourceType": "Patient", "id": f"p{calls['n']}"})))

    server.answer(handler)
    try:
        with Clinik("clk_test_x1", base_url=server.url, retries=FAST) as clinik:
            clinik.create(Patient(gender="male"))
            clinik.create(Patient(gender="female"))
        keys = [s.headers.get("idempotency-key") for s in server.seen]
        assert len(keys) == 6
        assert all(keys)
        assert len(set(keys[:3])) == 1
        assert len(set(keys[3:])) == 1
        assert keys[0] != keys[3]
    finally:
        server.close()


async def test_500_creates_under_faults_end_as_exactly_500_stored(env: Env) -> None:
    client = env.make(retries=FAST, validate=False)
    faults = env.sandbox.faults
    total = 500
    attempts = expected = 0
    for i in range(total):
        if i % 7 == 3:
            faults.drop_after_commit(1)  # committed, answer lost: the retry must be replayed, not re-applied
            expected += 2
        elif i % 11 == 5:
            faults.fail_next(2, status=503, retry_after=0)
            expected += 3
        elif i % 13 == 6:
            faults.fail_next(1, status=429, retry_after=0)
            expected += 2
        else:
            expected += 1
        await client.create(Patient(gender="male", identifier=[Identifier(system="urn:seq", value=str(i))]))
        attempts += client.last_response.attempts
    faults.reset()
    assert attempts == expected  # every injected fault really happened and was ridden out
    stored = await client.search_all(Patient, {"_count": "100"})
    values = sorted(int(p.identifier[0].value) for p in stored)
    assert values == list(range(total))  # none lost, none duplicated


def test_rate_limit_figures_are_reachable_and_a_429_carries_retry_after() -> None:
    sb = Sandbox(rate_limit=3, rate_window=60)
    key = sb.create_key("org_rl")
    with Clinik(key, base_url=sb.base_url, transport=sb.transport(), retries=0) as clinik:
        created = clinik.create(Patient(gender="male"))
        first = clinik.last_response
        assert first.rate_limit_limit == 3
        assert first.rate_limit_remaining == 2
        assert first.rate_limit_reset is not None
        clinik.read(Patient, created.id)
        assert clinik.last_response.rate_limit_remaining == 1
        clinik.read(Patient, created.id)
        with pytest.raises(RateLimitError) as info:
            clinik.read(Patient, created.id)
        assert info.value.code == "RATE_LIMITED"
        assert info.value.retry_after is not None
        assert info.value.retry_after > 0
        assert clinik.last_response.status == 429
    sb.close()


async def test_concurrent_async_creates_under_faults_are_neither_lost_nor_duplicated(env: Env) -> None:
    import asyncio

    if not env.is_async:
        pytest.skip("concurrency through one AsyncClinik")
    client = env.make(retries=FAST, validate=False)
    env.sandbox.faults.drop_after_commit(10)
    env.sandbox.faults.fail_next(5, status=503, retry_after=0)

    async def one(i: int) -> str:
        created = await client.create(Patient(gender="female", identifier=[Identifier(system="urn:c", value=str(i))]))
        assert created.id is not None
        return created.id

    ids = await asyncio.gather(*(one(i) for i in range(100)))
    env.sandbox.faults.reset()
    stored = await client.search_all(Patient, {"_count": "100"})
    assert sorted(int(p.identifier[0].value) for p in stored) == list(range(100))
    assert sorted(p.id for p in stored) == sorted(ids)
