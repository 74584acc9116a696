"""``transaction(..., prefer_return="minimal")`` (what ``clinikfhir load`` sends): the header goes out,
and the answer reads the same whether the server honours it (entries without resources) or not."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from clinikfhir import AsyncClinik, Clinik
from clinikfhir.errors import InvalidArgumentError, InvalidResponseError
from clinikfhir.models import Observation, Patient
from clinikfhir.sandbox import Sandbox


def _bundle() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b6b7f3e-7a0c-4c61-9d52-5b1d2f0c0001",
                "resource": {"resourceType": "Patient", "gender": "female"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "heart rate"},
                    "subject": {"reference": "urn:uuid:0b6b7f3e-7a0c-4c61-9d52-5b1d2f0c0001"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


def test_the_sandbox_answers_and_the_entries_read_alike() -> None:
    seen: list[str | None] = []

    def record(request: httpx.Request) -> None:
        seen.append(request.headers.get("prefer"))

    with Sandbox() as sb:
        key = sb.create_key("org_prefer")
        http = httpx.Client(transport=sb.transport(), base_url=sb.base_url, event_hooks={"request": [record]})
        with Clinik(key, base_url=sb.base_url, http_client=http) as clinik:
            answer = clinik.transaction(_bundle(), prefer_return="minimal")
            plain = clinik.transaction(_bundle())
        http.close()
    assert seen == ["return=minimal", None]
    for response in (answer, plain):
        assert [e.status_code for e in response] == [201, 201]
        patient_ref, observation_ref = (e.reference for e in response)
        assert patient_ref is not None
        assert patient_ref.startswith("Patient/")
        assert observation_ref is not None
        assert observation_ref.startswith("Observation/")
    # the full answer types on request; a minimal one (if the server honoured it) says what happened
    assert plain.resource(0, Patient).gender == "female"
    if answer.entries[1].resource_json is None:
        with pytest.raises(InvalidResponseError, match="return=minimal"):
            answer.resource(1, Observation)
    else:
        assert answer.resource(1, Observation).status == "final"


def _minimal_server(request: httpx.Request) -> httpx.Response:
    """A server that honours ``Prefer: return=minimal`` as FHIR R4 http.html#return says."""
    assert request.headers["prefer"] == "return=minimal"
    sent = orjson.loads(request.content)
    entries = [
        {
            "response": {
                "status": "201 Created",
                "location": f"{e['request']['url']}/{i + 1}/_history/1",
                "etag": 'W/"1"',
                "lastModified": "2024-01-01T00:00:00Z",
            }
        }
        for i, e in enumerate(sent["entry"])
    ]
    body = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    return httpx.Response(200, json=body, headers={"content-type": "application/fhir+json"})


async def test_a_server_that_honours_minimal_gives_entries_without_resources() -> None:
    async with AsyncClinik(
        "clk_test_prefer01", base_url="http://localhost", transport=httpx.MockTransport(_minimal_server)
    ) as clinik:
        answer = await clinik.batch({**_bundle(), "type": "batch"}, prefer_return="minimal")
    assert [(e.status_code, e.reference, e.etag) for e in answer] == [
        (201, "Patient/1", 'W/"1"'),
        (201, "Observation/2", 'W/"1"'),
    ]
    with pytest.raises(InvalidResponseError, match="no resource"):
        answer.resource(0, Patient)


def test_an_unknown_preference_is_refused_before_sending() -> None:
    transport = httpx.MockTransport(_minimal_server)
    with (
        Clinik("clk_test_prefer01", base_url="http://localhost", transport=transport) as c,
        pytest.raises(InvalidArgumentError, match="prefer_return must be one of minimal"),
    ):
        c.transaction(_bundle(), prefer_return="nothing")  # type: ignore[arg-type]
