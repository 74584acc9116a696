"""The retry state machine on its own: clock and Idempotency-Key factory injected, no time passes."""

from __future__ import annotations

import random

import httpx
import pytest

from clinikfhir import Clinik, RetryPolicy
from clinikfhir._core import Done, Exchange, Wait
from clinikfhir.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    IdempotencyConflictError,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServerValidationError,
    TenantConflictError,
    VersionConflictError,
    error_class,
)
from clinikfhir.models import Patient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(policy: RetryPolicy) -> Clinik:
    return Clinik("clk_test_abc", base_url="http://127.0.0.1:9", retries=policy)


def _answer(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers or {})


def test_the_key_factory_gives_one_key_per_call_kept_on_every_attempt() -> None:
    keys = iter(["k-1", "k-2"])
    with _client(RetryPolicy(max_retries=3, backoff_base=0.0)) as clinik:
        call = clinik._core.call_create(Patient(gender="male"), validate=False, if_none_exist=None)
        ex = Exchange(clinik._core, call, clock=FakeClock(), new_key=lambda: next(keys))
        for _ in range(3):
            assert ex.begin().headers["idempotency-key"] == "k-1"
            assert isinstance(ex.on_response(_answer(503)), Wait)
        other = Exchange(clinik._core, call, clock=FakeClock(), new_key=lambda: next(keys))
        assert other.begin().headers["idempotency-key"] == "k-2"
        read = Exchange(clinik._core, clinik._core.call_read(Patient, "p1"), new_key=lambda: next(keys))
        assert "idempotency-key" not in read.begin().headers  # a GET takes no key (and none is drawn)


def test_no_retry_whose_wait_ends_past_the_deadline_on_the_injected_clock() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_retries=5, backoff_base=1.0, backoff_cap=1.0, deadline=2.5, rng=random.Random(3))
    with _client(policy) as clinik:
        ex = Exchange(clinik._core, clinik._core.call_read(Patient, "p1"), clock=clock)
        ex.begin()
        step = ex.on_response(_answer(503, headers={"retry-after": "1"}))
        assert isinstance(step, Wait)
        assert step.seconds == 1.0
        clock.now += 1.0
        ex.begin()
        step = ex.on_response(_answer(503, headers={"retry-after": "1"}))
        assert isinstance(step, Wait)
        clock.now += 1.0
        ex.begin()
        with pytest.raises(ServerError):  # 2 s spent + 1 s wait > 2.5 s deadline
            ex.on_response(_answer(503, headers={"retry-after": "1"}))
        assert ex.attempt == 3


def test_a_timeout_after_the_last_retry_is_a_typed_error() -> None:
    clock = FakeClock()
    with _client(RetryPolicy(max_retries=1, backoff_base=0.0)) as clinik:
        ex = Exchange(clinik._core, clinik._core.call_read(Patient, "p1"), clock=clock)
        request = ex.begin()
        assert isinstance(ex.on_error(httpx.ReadTimeout("slow", request=request)), Wait)
        ex.begin()
        with pytest.raises(RequestTimeoutError):
            ex.on_error(httpx.ReadTimeout("slow", request=request))


def test_a_success_is_done_with_the_parsed_value() -> None:
    with _client(RetryPolicy(max_retries=0)) as clinik:
        ex = Exchange(clinik._core, clinik._core.call_read(Patient, "p1"), clock=FakeClock())
        ex.begin()
        step = ex.on_response(_answer(200, b'{"resourceType":"Patient","id":"p1"}'))
        assert isinstance(step, Done)
        assert step.value.id == "p1"


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "", BadRequestError),
        (401, "KEY_REVOKED", AuthenticationError),
        (403, "", ForbiddenError),
        (403, "TENANT_CONFLICT", TenantConflictError),
        (404, "", NotFoundError),
        (410, "GONE", NotFoundError),
        (409, "", ConflictError),
        (409, "VERSION_CONFLICT", VersionConflictError),
        (409, "IDEMPOTENCY_KEY_REUSED", IdempotencyConflictError),
        (412, "", VersionConflictError),
        (413, "", PayloadTooLargeError),
        (422, "", ServerValidationError),
        (429, "", RateLimitError),
        (429, "SANDBOX_QUOTA_EXCEEDED", QuotaExceededError),
        (429, "MONTHLY_QUOTA_EXCEEDED", QuotaExceededError),
        (500, "", ServerError),
        (503, "SERVICE_UNAVAILABLE", ServerError),
        (599, "", ServerError),
        (418, "", ApiError),
    ],
)
def test_the_error_table_on_the_classes(status: int, code: str, cls: type[ApiError]) -> None:
    assert error_class(status, code) is cls
