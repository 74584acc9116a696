"""The one tenant rule on ``_tag`` over real HTTP (the session's uvicorn sandbox): the gateway, the
engine and the client's guard read parameter names with one parser and apply one rule, so a
``_tag`` reached through ``_has`` or a chain is judged like a plain one, whatever its modifier."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clinikfhir import Clinik
from clinikfhir.errors import TenantGuardError
from clinikfhir.models import Patient
from clinikfhir.sandbox import Sandbox

KeyFactory = Callable[..., str]

TENANT = "https://clinikapi.com/tenant"


@pytest.fixture
def two(served_sandbox: Sandbox, make_key: KeyFactory) -> dict[str, Any]:
    a, b = f"org_a{secrets.token_hex(6)}", f"org_b{secrets.token_hex(6)}"
    ca = httpx.Client(base_url=served_sandbox.base_url, headers={"x-api-key": make_key(a)}, timeout=30)
    cb = httpx.Client(base_url=served_sandbox.base_url, headers={"x-api-key": make_key(b)}, timeout=30)
    pa = ca.post("/v1/fhir/Patient", json={"resourceType": "Patient"}).json()["id"]
    ca.post(
        "/v1/fhir/Observation",
        json={
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": f"Patient/{pa}"},
        },
    )
    cb.post("/v1/fhir/Patient", json={"resourceType": "Patient"})
    return {"a": ca, "b": cb, "tenant_a": a, "tenant_b": b, "patient": pa}


def _refused(c: httpx.Client, name: str, value: str) -> None:
    r = c.get("/v1/fhir/Patient", params={name: value})
    assert r.status_code == 403, (name, r.text)
    body = r.json()
    assert body["code"] == "TENANT_CONFLICT"
    code = value.rsplit("|", 1)[-1]
    if code.startswith("org_"):
        assert code not in body["message"]  # the tenant code is not echoed


@pytest.mark.parametrize(
    "name",
    [
        "_tag",
        "_tag:not",
        "_has:Observation:patient:_tag",
        "_has:Observation:patient:_tag:not",
        "_has:Observation:subject:_has:Provenance:target:_tag:not",
        "link:Patient._tag",
        "link:Patient._tag:not",
        "general-practitioner:Organization._tag:not",
    ],
)
def test_a_systemless_tag_naming_another_tenant_is_refused_whatever_the_path(two: dict[str, Any], name: str) -> None:
    _refused(two["a"], name, two["tenant_b"])
    _refused(two["a"], name, f"{TENANT}|{two['tenant_b']}")
    # the server still serves, with the data intact
    assert two["a"].get("/v1/fhir/Patient").json()["total"] == 1
    assert two["b"].get("/v1/fhir/Patient").json()["total"] == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_tag:missing", "true"),
        ("_has:Observation:patient:_tag:missing", "false"),
        ("_tag:not", f"{TENANT}|{{own}}"),
        ("_has:Observation:patient:_tag:text", TENANT),
        ("_tag", "HTTPS://CLINIKAPI.COM/TENANT/|{own}"),
    ],
)
def test_negating_or_probing_the_tenant_tag_is_refused(two: dict[str, Any], name: str, value: str) -> None:
    _refused(two["a"], name, value.replace("{own}", two["tenant_a"]))


def test_the_own_tenant_and_other_systems_pass(two: dict[str, Any]) -> None:
    a = two["a"]
    own = {"_has:Observation:patient:_tag": f"{TENANT}|{two['tenant_a']}"}
    assert a.get("/v1/fhir/Patient", params=own).json()["total"] == 1
    other = {"_has:Observation:patient:_tag:not": "http://example.org/tags|vip"}
    assert a.get("/v1/fhir/Patient", params=other).json()["total"] == 1
    nobody = {"_has:Observation:patient:_tag:not": "org_nobody_at_all"}  # names no tenant
    assert a.get("/v1/fhir/Patient", params=nobody).json()["total"] == 1


def test_the_clients_guard_refuses_what_could_widen_tenancy_before_sending(
    served_sandbox: Sandbox, api_key: str
) -> None:
    with Clinik(api_key, base_url=served_sandbox.base_url) as clinik:
        with pytest.raises(TenantGuardError):
            clinik.search(Patient, [("_has:Observation:patient:_tag:not", "org_x")]).get()
        with pytest.raises(TenantGuardError):
            clinik.search(Patient, [("_has:Observation:patient:_tag", f"{TENANT}|org_x")]).get()
