"""The vendor docs' own examples, verbatim, against a running sandbox (host replaced, ids substituted
by the ones the sandbox minted): docs.clinikapi.com api-reference/fhir/{create,read,patch,delete}
and the overview's /v1/metadata."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from clinikfhir.sandbox import Sandbox

LIVE_KEY = "clk_live_abc123"  # the key every vendor example uses
TENANT = "org_def456"  # the tenant of the read example's response

CREATE_BODY = """{
    "resourceType": "Patient",
    "name": [{ "family": "Smith", "given": ["John"] }],
    "gender": "male",
    "birthDate": "1990-01-15"
  }"""

PATCH_BODY = """[
    { "op": "replace", "path": "/name/0/family", "value": "Johnson" },
    { "op": "add", "path": "/telecom/-", "value": { "system": "phone", "value": "+1-555-0200" } }
  ]"""


@pytest.fixture(scope="module")
def vendor() -> Iterator[Sandbox]:
    with Sandbox.serve(port=0) as sb:
        sb.add_key(LIVE_KEY, TENANT)
        yield sb


def test_create_patient(vendor: Sandbox) -> None:
    # curl -X POST https://api.clinikapi.com/v1/fhir/Patient -H "x-api-key: clk_live_abc123"
    #      -H "Content-Type: application/fhir+json" -d '{...}'
    r = httpx.post(
        f"{vendor.base_url}/v1/fhir/Patient",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/fhir+json"},
        content=CREATE_BODY,
    )
    assert r.status_code == 201
    body = r.json()
    assert body["resourceType"] == "Patient"
    assert body["id"]
    assert {"system": "https://clinikapi.com/tenant", "code": TENANT} in body["meta"]["tag"]
    assert body["name"] == [{"family": "Smith", "given": ["John"]}]


def test_read_patient(vendor: Sandbox) -> None:
    created = httpx.post(
        f"{vendor.base_url}/v1/fhir/Patient",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/fhir+json"},
        content=CREATE_BODY,
    ).json()
    # curl https://api.clinikapi.com/v1/fhir/Patient/pt_abc123 -H "x-api-key: clk_live_abc123"
    r = httpx.get(f"{vendor.base_url}/v1/fhir/Patient/{created['id']}", headers={"x-api-key": LIVE_KEY})
    assert r.status_code == 200
    body = r.json()
    assert body["resourceType"] == "Patient"
    assert body["meta"]["tag"] == [{"system": "https://clinikapi.com/tenant", "code": TENANT}]
    assert body == created


def test_patch_patient_with_the_two_operation_json_patch(vendor: Sandbox) -> None:
    # The example appends to /telecom/-, which RFC 6902 allows only when telecom exists: the
    # example's pt_abc123 has one. On the create example's patient (no telecom) it is a clean 422.
    bare = httpx.post(
        f"{vendor.base_url}/v1/fhir/Patient",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/fhir+json"},
        content=CREATE_BODY,
    ).json()
    with_phone = httpx.post(
        f"{vendor.base_url}/v1/fhir/Patient",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/fhir+json"},
        json={**httpx.Response(200, content=CREATE_BODY).json(), "telecom": [{"system": "email", "value": "j@x.org"}]},
    ).json()
    # curl -X PATCH https://api.clinikapi.com/v1/fhir/Patient/pt_abc123 -H "x-api-key: clk_live_abc123"
    #      -H "Content-Type: application/json-patch+json" -d '[...]'
    r = httpx.patch(
        f"{vendor.base_url}/v1/fhir/Patient/{with_phone['id']}",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/json-patch+json"},
        content=PATCH_BODY,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"][0]["family"] == "Johnson"
    assert body["telecom"][-1] == {"system": "phone", "value": "+1-555-0200"}
    assert body["meta"]["versionId"] == "2"
    r = httpx.patch(
        f"{vendor.base_url}/v1/fhir/Patient/{bare['id']}",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/json-patch+json"},
        content=PATCH_BODY,
    )
    assert r.status_code == 422
    assert "operation 1" in r.json()["message"]
    after = httpx.get(f"{vendor.base_url}/v1/fhir/Patient/{bare['id']}", headers={"x-api-key": LIVE_KEY}).json()
    assert after == bare  # the failed patch changed nothing (not even the first operation)


def test_delete_observation(vendor: Sandbox) -> None:
    obs = httpx.post(
        f"{vendor.base_url}/v1/fhir/Observation",
        headers={"x-api-key": LIVE_KEY, "Content-Type": "application/fhir+json"},
        json={"resourceType": "Observation", "status": "final", "code": {"text": "heart rate"}},
    ).json()
    # curl -X DELETE https://api.clinikapi.com/v1/fhir/Observation/obs_xyz789 -H "x-api-key: clk_live_abc123"
    r = httpx.delete(f"{vendor.base_url}/v1/fhir/Observation/{obs['id']}", headers={"x-api-key": LIVE_KEY})
    assert r.status_code == 204
    assert r.content == b""
    r = httpx.get(f"{vendor.base_url}/v1/fhir/Observation/{obs['id']}", headers={"x-api-key": LIVE_KEY})
    assert r.status_code == 404


def test_metadata_without_key(vendor: Sandbox) -> None:
    # GET /v1/metadata: FHIR CapabilityStatement (no auth)
    r = httpx.get(f"{vendor.base_url}/v1/metadata")
    assert r.status_code == 200
    assert r.json()["resourceType"] == "CapabilityStatement"
