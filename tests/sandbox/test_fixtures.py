"""The shared fixtures others rely on: keys work on whichever sandbox the test uses, tenants differ."""

from __future__ import annotations

import httpx

from clinikfhir.sandbox import Sandbox


def test_keys_on_the_in_process_sandbox(sandbox: Sandbox, api_key: str, other_tenant_key: str) -> None:
    assert sandbox.tenant_of(api_key) != sandbox.tenant_of(other_tenant_key)
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport()) as c:
        r = c.post("/v1/fhir/Patient", json={"resourceType": "Patient"}, headers={"x-api-key": api_key})
        assert r.status_code == 201
        pid = r.json()["id"]
        assert c.get(f"/v1/fhir/Patient/{pid}", headers={"x-api-key": other_tenant_key}).status_code == 404


def test_keys_on_the_served_sandbox(served_sandbox: Sandbox, api_key: str, other_tenant_key: str) -> None:
    assert served_sandbox.base_url.startswith("http://127.0.0.1:")
    r = httpx.post(
        f"{served_sandbox.base_url}/v1/fhir/Patient", json={"resourceType": "Patient"}, headers={"x-api-key": api_key}
    )
    assert r.status_code == 201
    r = httpx.get(f"{served_sandbox.base_url}/v1/fhir/Patient", headers={"x-api-key": other_tenant_key})
    assert r.json()["total"] == 0


def test_keys_default_to_the_served_sandbox(api_key: str, served_sandbox: Sandbox) -> None:
    r = httpx.get(f"{served_sandbox.base_url}/v1/fhir/Patient", headers={"x-api-key": api_key})
    assert r.status_code == 200
    assert r.json()["total"] == 0  # a fresh tenant per test: nothing from other tests


def test_make_key_scopes_and_envs(sandbox: Sandbox, make_key: object) -> None:
    reader = make_key(scope="read")  # type: ignore[operator]
    live = make_key(env="live")  # type: ignore[operator]
    assert reader.startswith("clk_test_")
    assert live.startswith("clk_live_")
    with sandbox.client(reader) as c:
        assert c.post("/v1/fhir/Patient", json={"resourceType": "Patient"}).status_code == 403
