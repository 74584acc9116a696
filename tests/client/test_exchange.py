"""The retry state machine on its own: clock and Idempotency-Key factory injected, no time passes."""

from __future__ import annotations

import json
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
    OutcomeUnknownError,
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


# ------------------------------------------------------- the outcome of a write whose answer was lost


def _history(deleted_at: str, version: int) -> bytes:
    entry = {
        "request": {"method": "DELETE", "url": "Patient/p1"},
        "response": {"status": "204 No Content", "etag": f'W/"{version}"', "lastModified": deleted_at},
    }
    return json.dumps({"resourceType": "Bundle", "type": "history", "entry": [entry]}).encode()


def _lost_then_404(clinik: Clinik, clock: FakeClock, *, if_match: str | None = None) -> Exchange[None]:
    ex = Exchange(clinik._core, clinik._core.call_delete(Patient, "p1", if_match=if_match), clock=clock)
    request = ex.begin()
    assert isinstance(ex.on_error(httpx.ReadTimeout("lost", request=request)), Wait)  # maybe applied
    clock.now += 1.0
    ex.begin()
    step = ex.on_response(_answer(404, b'{"code":"NOT_FOUND"}', {"x-timestamp": "2026-01-01T10:00:10.000Z"}))
    assert step == Wait(0.0)  # the next request asks what happened
    probe = ex.begin()
    assert (probe.method, probe.url.path, probe.url.params.get("_count")) == (
        "GET",
        "/v1/fhir/Patient/p1/_history",
        "1",
    )
    return ex


def test_a_delete_that_landed_during_the_call_is_done() -> None:
    with _client(RetryPolicy(max_retries=2, backoff_base=0.0)) as clinik:
        ex = _lost_then_404(clinik, FakeClock())
        step = ex.on_response(_answer(200, _history("2026-01-01T10:00:09.500000Z", 2)))
        assert step == Done(None)


def test_a_deletion_older_than_the_call_is_still_not_found() -> None:
    with _client(RetryPolicy(max_retries=2, backoff_base=0.0)) as clinik:
        ex = _lost_then_404(clinik, FakeClock())  # the call is 1 s old at the 404 stamped 10:00:10
        with pytest.raises(NotFoundError):
            ex.on_response(_answer(200, _history("2026-01-01T10:00:08.000000Z", 2)))


def test_under_if_match_only_version_n_plus_1_is_the_calls_own_deletion() -> None:
    with _client(RetryPolicy(max_retries=2, backoff_base=0.0)) as clinik:
        ex = _lost_then_404(clinik, FakeClock(), if_match="4")
        assert ex.on_response(_answer(200, _history("2020-01-01T00:00:00Z", 5))) == Done(None)
        ex = _lost_then_404(clinik, FakeClock(), if_match="4")
        with pytest.raises(NotFoundError):
            ex.on_response(_answer(200, _history("2026-01-01T10:00:09.9Z", 7)))


def test_what_cannot_be_settled_is_outcome_unknown_never_a_guess() -> None:
    with _client(RetryPolicy(max_retries=2, backoff_base=0.0)) as clinik:
        ex = _lost_then_404(clinik, FakeClock())
        with pytest.raises(OutcomeUnknownError):  # the probe itself fails
            ex.on_response(_answer(503))
        ex = _lost_then_404(clinik, FakeClock())
        with pytest.raises(OutcomeUnknownError):  # no timestamp to place the deletion in time
            ex.on_response(_answer(200, _history("", 2)))
        ex = Exchange(clinik._core, clinik._core.call_delete(Patient, "p1", if_match=None), clock=FakeClock())
        for _ in range(3):  # every answer lost: retries run out
            request = ex.begin()
            step: object = None
            try:
                step = ex.on_error(httpx.ReadTimeout("lost", request=request))
            except OutcomeUnknownError:
                break
            assert isinstance(step, Wait)
        else:
            raise AssertionError("no OutcomeUnknownError")


def test_a_put_under_if_match_that_landed_is_recognised_by_version_n_plus_1() -> None:
    with _client(RetryPolicy(max_retries=2, backoff_base=0.0)) as clinik:
        sent = Patient.model_validate(
            {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "3"}, "gender": "male"}
        )
        for stored_gender, landed in (("male", True), ("female", False)):
            ex = Exchange(
                clinik._core, clinik._core.call_update(sent, if_match=True, validate=False), clock=FakeClock()
            )
            request = ex.begin()
            assert request.headers["if-match"] == 'W/"3"'
            ex.on_error(httpx.RemoteProtocolError("dropped", request=request))
            ex.begin()
            assert ex.on_response(_answer(412, b'{"code":"PRECONDITION_FAILED"}')) == Wait(0.0)
            assert ex.begin().url.path == "/v1/fhir/Patient/p1/_history/4"
            v4 = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "4"}, "gender": stored_gender}
            if landed:
                step = ex.on_response(_answer(200, json.dumps(v4).encode(), {"etag": 'W/"4"'}))
                assert isinstance(step, Done)
                assert step.value.meta.versionId == "4"
            else:
                with pytest.raises(VersionConflictError):
                    ex.on_response(_answer(200, json.dumps(v4).encode()))
