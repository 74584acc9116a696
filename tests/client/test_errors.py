"""Error mapping and malformed responses, over a real socket that sends scripted raw bytes.

Whatever a server or proxy sends back, the caller gets a typed clinikfhir error: never a raw
KeyError, orjson/pydantic error or httpx exception, and never the API key or a PHI-looking value.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from clinikfhir import AsyncClinik, Clinik, RetryPolicy
from clinikfhir.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClinikError,
    ConflictError,
    ForbiddenError,
    IdempotencyConflictError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServerValidationError,
    TenantConflictError,
    VersionConflictError,
)
from clinikfhir.models import Observation, Patient

from ._rawserver import RawServer, Script, response
from .conftest import Either

KEY = "clk_test_SecretKey0123456789"
FAST = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_cap=0.002)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male"}
FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
def server() -> Iterator[RawServer]:
    s = RawServer()
    yield s
    s.close()


@pytest.fixture(params=["sync", "async"])
async def make(request: pytest.FixtureRequest, server: RawServer) -> AsyncIterator[Any]:
    made: list[Either] = []

    def factory(base_url: str | None = None, **kwargs: Any) -> Either:
        kwargs.setdefault("retries", FAST)
        cls = AsyncClinik if request.param == "async" else Clinik
        client = Either(cls(KEY, base_url=base_url or server.url, **kwargs))
        made.append(client)
        return client

    yield factory
    for c in made:
        await c.close()


def assert_clean(exc: BaseException) -> None:
    """No key and no PHI-looking value anywhere in the error, its chain or its traceback."""
    text = "".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc))
    chain: BaseException | None = exc
    while chain is not None:
        text += repr(chain) + str(chain)
        chain = chain.__cause__ or chain.__context__
    assert KEY not in text
    assert "SecretKey" not in text
    assert "john@example.com" not in text
    assert "555-123-4567" not in text


# ------------------------------------------------------------------------------- status mapping


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "INVALID_PARAMETER", BadRequestError),
        (401, "KEY_REVOKED", AuthenticationError),
        (403, "FORBIDDEN", ForbiddenError),
        (403, "TENANT_CONFLICT", TenantConflictError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "VERSION_CONFLICT", VersionConflictError),
        (409, "IDEMPOTENCY_KEY_REUSED", IdempotencyConflictError),
        (409, "SOMETHING", ConflictError),
        (410, "GONE", NotFoundError),
        (412, "PRECONDITION", VersionConflictError),
        (413, "PAYLOAD_TOO_LARGE", PayloadTooLargeError),
        (415, "UNSUPPORTED_MEDIA_TYPE", ApiError),
        (422, "VALIDATION_ERROR", ServerValidationError),
        (429, "RATE_LIMITED", RateLimitError),
        (429, "MONTHLY_QUOTA_EXCEEDED", QuotaExceededError),
        (500, "INTERNAL_ERROR", ServerError),
        (503, "SERVICE_UNAVAILABLE", ServerError),
    ],
)
async def test_gateway_envelope_maps_to_the_class_named_for_what_happened(
    make: Any, server: RawServer, status: int, code: str, cls: type[ApiError]
) -> None:
    body = {"error": "E", "code": code, "message": "it failed", "requestId": "req_body"}
    server.always(response(status, json.dumps(body), {"x-request-id": "req_header1", "retry-after": "0"}))
    client = make(retries=0)
    with pytest.raises(cls) as info:
        await client.read(Patient, "p1")
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.code == code  # the body's own code is kept (the TS SDK drops it for 401/404/422/429)
    assert err.request_id == "req_header1"
    assert err.message == "it failed"
    assert_clean(err)


async def test_request_id_falls_back_to_the_body(make: Any, server: RawServer) -> None:
    server.always(response(404, json.dumps({"code": "NOT_FOUND", "message": "gone", "requestId": "req_inbody"})))
    with pytest.raises(NotFoundError) as info:
        await make().read(Patient, "p1")
    assert info.value.request_id == "req_inbody"


async def test_rate_limit_carries_retry_after(make: Any, server: RawServer) -> None:
    server.always(response(429, json.dumps({"code": "RATE_LIMITED", "message": "slow down"}), {"retry-after": "7"}))
    with pytest.raises(RateLimitError) as info:
        await make(retries=0).read(Patient, "p1")
    assert info.value.retry_after == 7.0
    assert info.value.meta is not None
    assert info.value.meta.retry_after == 7.0


async def test_quota_exhaustion_is_not_retried(make: Any, server: RawServer) -> None:
    server.always(
        response(429, json.dumps({"code": "SANDBOX_QUOTA_EXCEEDED", "message": "quota"}), {"retry-after": "0"})
    )
    with pytest.raises(QuotaExceededError):
        await make().read(Patient, "p1")
    assert len(server.seen) == 1


async def test_issues_are_read_from_issues_and_from_issue_and_redacted(make: Any, server: RawServer) -> None:
    phi = "bad value john@example.com or 555-123-4567, ssn 123-45-6789, born 1990-01-15"
    server.always(
        response(
            422,
            json.dumps(
                {
                    "code": "VALIDATION_ERROR",
                    "message": phi,
                    "issues": [
                        {
                            "severity": "error",
                            "code": "invalid",
                            "diagnostics": phi,
                            "expression": ["Patient.telecom[0]"],
                        }
                    ],
                }
            ),
        )
    )
    with pytest.raises(ServerValidationError) as info:
        await make().read(Patient, "p1")
    err = info.value
    assert [i.expression for i in err.issues] == [("Patient.telecom[0]",)]
    for text in (err.message, err.issues[0].diagnostics, str(err)):
        assert "john@example.com" not in text
        assert "555-123-4567" not in text
        assert "123-45-6789" not in text
        assert "1990-01-15" not in text
        assert "[REDACTED]" in text
    assert_clean(err)

    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "required", "diagnostics": "Patient.name: required"}],
    }
    server.always(response(422, json.dumps(outcome)))
    with pytest.raises(ServerValidationError) as info:
        await make().read(Patient, "p1")
    assert [(i.severity, i.code) for i in info.value.issues] == [("error", "required")]
    assert info.value.message == "Patient.name: required"


async def test_html_502_from_a_proxy_still_maps_by_status(make: Any, server: RawServer) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    server.always(response(502, html, {"content-type": "text/html"}, reason="Bad Gateway"))
    with pytest.raises(ServerError) as info:
        await make().read(Patient, "p1")
    assert info.value.status == 502
    assert "<html>" not in str(info.value)
    assert info.value.code == "INTERNAL_ERROR"
    assert len(server.seen) == 3  # 1 + 2 retries: GET is safe to repeat


async def test_truncated_error_body_still_maps_by_status(make: Any, server: RawServer) -> None:
    server.always(response(404, '{"code": "NOT_FOU', FHIR))
    with pytest.raises(NotFoundError) as info:
        await make().read(Patient, "p1")
    assert info.value.status == 404


# ------------------------------------------------------------------------------ malformed 2xx


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("<html>oops</html>", "not valid JSON"),
        ('{"resourceType": "Patient", "id": "p1", "gend', "not valid JSON"),
        ("", "empty response body"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"id": "p1"}', "no resourceType"),
        ('{"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}', "expected a Patient"),
        ('{"resourceType": "NotAType", "id": "x"}', "expected a Patient"),
    ],
)
async def test_malformed_success_bodies_are_invalid_response_errors(
    make: Any, server: RawServer, body: str, fragment: str
) -> None:
    server.always(response(200, body, FHIR))
    with pytest.raises(InvalidResponseError) as info:
        await make().read(Patient, "p1")
    assert fragment in str(info.value)
    assert len(server.seen) == 1  # a bad 2xx body is not retried
    assert_clean(info.value)


async def test_a_body_that_does_not_fit_the_model_reports_paths_not_values(make: Any, server: RawServer) -> None:
    bad = {"resourceType": "Patient", "id": "p1", "name": "john@example.com", "birthDate": {"x": 1}}
    server.always(response(200, json.dumps(bad), FHIR))
    with pytest.raises(InvalidResponseError) as info:
        await make().read(Patient, "p1")
    paths = [p for p, _ in info.value.problems]
    assert any(p.startswith("Patient.name") for p in paths)
    assert_clean(info.value)


async def test_raw_request_with_unknown_resource_type_is_an_invalid_response(make: Any, server: RawServer) -> None:
    server.always(response(200, '{"resourceType": "Nonsense"}', FHIR))
    with pytest.raises(InvalidResponseError):
        await make().request("GET", "/Patient/p1")


async def test_search_page_with_a_broken_entry_raises_on_access(make: Any, server: RawServer) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 2,
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "ok"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient", "id": "bad", "gender": ["x"]}, "search": {"mode": "match"}},
        ],
    }
    server.always(response(200, json.dumps(bundle), FHIR))
    page = await make().search_page(Patient)
    assert page[0].id == "ok"
    with pytest.raises(InvalidResponseError) as info:
        _ = page.resources
    assert "Bundle.entry[1]" in str(info.value)


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "type": "searchset", "entry": {"not": "a list"}},
        {"resourceType": "Bundle", "type": "searchset", "entry": [1, 2]},
        {"resourceType": "Patient", "id": "x"},
    ],
)
async def test_search_on_a_broken_bundle_is_an_invalid_response(make: Any, server: RawServer, bundle: Any) -> None:
    server.always(response(200, json.dumps(bundle), FHIR))
    with pytest.raises(InvalidResponseError):
        await make().search_page(Observation)


async def test_a_wrong_type_in_a_match_entry_is_reported(make: Any, server: RawServer) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}}}],
    }
    server.always(response(200, json.dumps(bundle), FHIR))
    page = await make().search_page(Patient)
    with pytest.raises(InvalidResponseError):
        _ = page.resources


# --------------------------------------------------------------------------- transport failures


async def test_a_body_cut_short_is_a_network_error_after_retries(make: Any, server: RawServer) -> None:
    full = response(200, json.dumps(PATIENT), FHIR)
    server.answer(lambda _s: Script(full, close_after=len(full) - 10))
    with pytest.raises(NetworkError) as info:
        await make().read(Patient, "p1")
    assert len(server.seen) == 3
    assert "after 3 attempt(s)" in str(info.value)
    assert_clean(info.value)


async def test_connection_refused_is_a_network_error(make: Any) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NetworkError) as info:
        await make(base_url=f"http://127.0.0.1:{port}").read(Patient, "p1")
    assert not isinstance(info.value, RequestTimeoutError)
    assert_clean(info.value)


async def test_a_slow_server_is_a_typed_timeout(make: Any, server: RawServer) -> None:
    never = threading.Event()  # the server holds its answer until the test is over
    server.always(response(200, json.dumps(PATIENT), FHIR), hold=never)
    try:
        with pytest.raises(RequestTimeoutError) as info:
            await make(timeout=0.2, retries=0).read(Patient, "p1")
    finally:
        never.set()
    assert "timed out" in str(info.value)
    assert_clean(info.value)


# ------------------------------------------------------------------------- the key stays home


async def test_redirects_are_not_followed_and_the_key_never_leaves_the_origin(make: Any, server: RawServer) -> None:
    elsewhere = RawServer()
    try:
        server.always(response(302, "", {"location": f"{elsewhere.url}/v1/fhir/Patient/p1"}))
        with pytest.raises(InvalidResponseError) as info:
            await make().read(Patient, "p1")
        assert "redirect" in str(info.value)
        assert elsewhere.seen == []
        assert len(server.seen) == 1
        assert server.seen[0].headers["x-api-key"] == KEY
    finally:
        elsewhere.close()


@pytest.mark.parametrize("link", ["{other}/v1/fhir/Patient?page=2", "//evil.example/v1/fhir/Patient", "/elsewhere/x"])
async def test_a_next_link_off_the_configured_origin_is_not_followed(make: Any, server: RawServer, link: str) -> None:
    elsewhere = RawServer()
    try:
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": link.format(other=elsewhere.url)}],
            "entry": [],
        }
        server.always(response(200, json.dumps(bundle), FHIR))
        client = make()
        page = await client.search_page(Patient)
        with pytest.raises(InvalidResponseError) as info:
            await client.collect("pages", page)
        assert "not followed" in str(info.value)
        assert elsewhere.seen == []
        assert len(server.seen) == 1
    finally:
        elsewhere.close()


async def test_a_relative_next_link_is_followed_on_the_same_origin_with_the_key(make: Any, server: RawServer) -> None:
    def handler(seen: Any) -> Script:
        first = "page=2" not in seen.target
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Patient", "id": "a" if first else "b"}}],
        }
        if first:
            bundle["link"] = [{"relation": "next", "url": "/v1/fhir/Patient?page=2"}]
        return Script(response(200, json.dumps(bundle), FHIR))

    server.answer(handler)
    client = make()
    ids = [p.id for p in await client.search_all(Patient)]
    assert ids == ["a", "b"]
    assert [s.headers.get("x-api-key") for s in server.seen] == [KEY, KEY]


async def test_every_error_is_a_clinik_error(make: Any, server: RawServer) -> None:
    for raw in (response(500, "x"), response(200, "x"), response(418, "teapot")):
        server.always(raw)
        with pytest.raises(ClinikError):
            await make(retries=0).read(Patient, "p1")


async def test_errors_survive_pickling(make: Any, server: RawServer) -> None:
    import pickle

    server.always(
        response(
            422,
            json.dumps(
                {
                    "code": "VALIDATION_ERROR",
                    "message": "bad",
                    "issues": [{"severity": "error", "code": "invalid", "diagnostics": "Patient.name: required"}],
                }
            ),
            {"x-request-id": "req_p"},
        )
    )
    with pytest.raises(ServerValidationError) as info:
        await make().read(Patient, "p1")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is ServerValidationError
    assert (copy.status, copy.code, copy.request_id, str(copy)) == (422, "VALIDATION_ERROR", "req_p", str(info.value))
    assert copy.issues == info.value.issues


async def test_strict_reads_reject_what_the_lenient_path_keeps(make: Any, server: RawServer) -> None:
    odd = {"resourceType": "Patient", "id": "p1", "gender": "male", "unknownElement": 1}
    server.always(response(200, json.dumps(odd), FHIR))
    lenient = await make().read(Patient, "p1")  # reads are lenient: nothing is lost, nothing raised
    assert lenient.gender == "male"
    with pytest.raises(InvalidResponseError) as info:
        await make().read(Patient, "p1", strict=True)
    assert info.value.problems
    with pytest.raises(InvalidResponseError):
        await make(strict=True).read(Patient, "p1")
    assert (await make(strict=True).read(Patient, "p1", strict=False)).id == "p1"
