"""Every write is exact under lost answers, timeouts and 5xx bursts: the store ends in exactly the
state the client reported, in all four modes (sync/async x in-process/HTTP).

Faults: the sandbox's ``drop_after_commit`` (committed, connection dropped unanswered) and
``fail_next`` (503 bursts), plus a transport wrapper that forwards a request and then loses its
answer as a read timeout (or times out before sending). 500 operations per write kind in-process,
60 over HTTP (each HTTP operation costs real round trips).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clinikfhir import RetryPolicy, Transaction
from clinikfhir.errors import NotFoundError, OutcomeUnknownError, VersionConflictError
from clinikfhir.models import HumanName, Identifier, Patient

from .conftest import Env

FAST = RetryPolicy(max_retries=6, backoff_base=0.0, backoff_cap=0.0)


class _Loser:
    """Loses answers on demand: ``after`` forwards the request then raises ReadTimeout (the write
    may have landed); ``before`` raises ConnectTimeout without sending."""

    def __init__(self) -> None:
        self.after = 0
        self.before = 0

    def check(self, request: httpx.Request) -> None:
        if self.before:
            self.before -= 1
            raise httpx.ConnectTimeout("injected", request=request)

    def lost(self) -> bool:
        if self.after:
            self.after -= 1
            return True
        return False


class SyncLoser(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.faults = inner, _Loser()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.faults.check(request)
        response = self.inner.handle_request(request)
        if self.faults.lost():
            response.read()
            response.close()
            raise httpx.ReadTimeout("injected", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncLoser(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.faults = inner, _Loser()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.faults.check(request)
        response = await self.inner.handle_async_request(request)
        if self.faults.lost():
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("injected", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _client(env: Env) -> tuple[Any, _Loser]:
    inner: Any
    if env.in_process:
        inner = env.sandbox.async_transport() if env.is_async else env.sandbox.transport()
    else:
        inner = httpx.AsyncHTTPTransport() if env.is_async else httpx.HTTPTransport()
    wrapper = AsyncLoser(inner) if env.is_async else SyncLoser(inner)
    return env.make(transport=wrapper, retries=FAST, validate=False), wrapper.faults


def _fault(env: Env, loser: _Loser, i: int) -> None:
    """One of four fault kinds for operation ``i`` (and a quarter without any)."""
    kind = i % 5
    if kind == 0:
        env.sandbox.faults.drop_after_commit(1)
    elif kind == 1:
        env.sandbox.faults.fail_next(2, status=503, retry_after=0)
    elif kind == 2:
        loser.after = 1
    elif kind == 3:
        loser.before = 1


def _count(env: Env) -> int:
    return 500 if env.in_process else 60


def _patient(i: int) -> Patient:
    return Patient(gender="male", identifier=[Identifier(system="urn:exact", value=str(i))])


async def _check_each(env: Env, op: Callable[[Any, int], Any]) -> None:
    client, loser = _client(env)
    checker = env.make(retries=FAST)

    for i in range(_count(env)):

        def arm(i: int = i) -> None:
            _fault(env, loser, i)

        await op((client, checker, arm), i)
        env.sandbox.faults.reset()
        loser.after = loser.before = 0


async def test_update_with_if_match_reports_exactly_what_is_stored(env: Env) -> None:
    seed, _ = _client(env)
    created = await seed.create(_patient(0))

    async def op(pair: Any, i: int) -> None:
        client, checker, arm = pair
        current = await checker.read(Patient, created.id)
        current.name = [HumanName(family=f"F{i}")]
        arm()
        updated = await client.update(current)  # If-Match: the version just read
        assert updated.meta.versionId == str(int(current.meta.versionId) + 1)
        stored = await checker.read(Patient, created.id)
        assert stored.meta.versionId == updated.meta.versionId
        assert stored.name[0].family == f"F{i}"

    await _check_each(env, op)


async def test_delete_reports_exactly_what_is_stored(env: Env) -> None:
    async def op(pair: Any, i: int) -> None:
        client, checker, arm = pair
        created = await checker.create(_patient(i))
        arm()
        await client.delete(Patient, created.id)  # must not raise NotFoundError for its own delete
        with pytest.raises(NotFoundError):
            await checker.read(Patient, created.id)

    await _check_each(env, op)


async def test_delete_with_if_match_reports_exactly_what_is_stored(env: Env) -> None:
    async def op(pair: Any, i: int) -> None:
        client, checker, arm = pair
        created = await checker.create(_patient(i))
        arm()
        await client.delete(Patient, created.id, if_match=created.meta.versionId)
        with pytest.raises(NotFoundError):
            await checker.read(Patient, created.id)

    await _check_each(env, op)


async def test_deleting_what_never_existed_is_still_not_found_after_a_lost_answer(env: Env) -> None:
    client, loser = _client(env)
    loser.after = 1  # the first 404 is lost; the retry's 404 must not be taken for our own delete
    with pytest.raises(NotFoundError):
        await client.delete(Patient, "never-was")


async def test_a_stale_update_is_still_a_conflict_after_a_lost_answer(env: Env) -> None:
    client, loser = _client(env)
    checker = env.make()
    created = await checker.create(_patient(1))
    stale = created.model_copy(deep=True)
    created.gender = "female"
    await checker.update(created)  # version 2 is someone else's
    stale.gender = "other"
    loser.after = 1  # the first 412 is lost; the retry's 412 is checked against version 2: not ours
    with pytest.raises(VersionConflictError):
        await client.update(stale)
    assert (await checker.read(Patient, created.id)).gender == "female"


async def test_conditional_create_and_update_report_exactly_what_is_stored(env: Env) -> None:
    async def op(pair: Any, i: int) -> None:
        client, checker, arm = pair
        arm()
        made = await client.create(_patient(i), if_none_exist=f"identifier=urn:exact|{i}")
        again = await client.create(_patient(i), if_none_exist=f"identifier=urn:exact|{i}")
        assert again.id == made.id
        body = _patient(i)
        body.gender = "female"
        arm()
        put = await client.request("PUT", "/Patient", body, params={"identifier": f"urn:exact|{i}"})
        assert put is not None
        assert put.id == made.id
        page = await checker.search_page(Patient, {"identifier": f"urn:exact|{i}"})
        assert [(p.id, p.gender, p.meta.versionId) for p in page] == [(made.id, "female", put.meta.versionId)]

    await _check_each(env, op)


async def test_transactions_report_exactly_what_is_stored(env: Env) -> None:
    async def op(pair: Any, i: int) -> None:
        client, checker, arm = pair
        tx = Transaction()
        tx.create(_patient(i))
        tx.create(_patient(i + 100_000))
        arm()
        result = await client.transaction(tx)
        ids = [result.resource(n, Patient).id for n in range(2)]
        for value in (i, i + 100_000):
            page = await checker.search_page(Patient, {"identifier": f"urn:exact|{value}"})
            assert len(page) == 1  # none lost, none duplicated
            assert page[0].id in ids

    await _check_each(env, op)


async def test_a_write_whose_answers_are_all_lost_is_outcome_unknown(env: Env) -> None:
    client, loser = _client(env)
    checker = env.make()
    created = await checker.create(_patient(1))
    loser.after = 100  # every answer lost: the client cannot know, and says so
    with pytest.raises(OutcomeUnknownError):
        await client.delete(Patient, created.id)
    with pytest.raises(NotFoundError):  # it did land (the first attempt)
        await checker.read(Patient, created.id)
