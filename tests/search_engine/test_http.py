"""End to end over real HTTP (the session's uvicorn sandbox): the engine behind /v1/fhir search,
chains, _has, includes, paging, sorting, errors, lenient handling and $everything, in two tenants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinikfhir.sandbox import Sandbox

LOINC = "http://loinc.org"


def client(sb: Sandbox, key: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=sb.base_url, headers={"x-api-key": key, **headers}, timeout=30)


def create(c: httpx.Client, resource: dict[str, Any]) -> str:
    r = c.post(f"/v1/fhir/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def obs(patient: str, code: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
    }


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == mode]


@pytest.fixture
def world(served_sandbox: Sandbox, api_key: str, other_tenant_key: str) -> dict[str, Any]:
    a, b = client(served_sandbox, api_key), client(served_sandbox, other_tenant_key)
    w: dict[str, Any] = {"a": a, "b": b}
    w["smith"] = create(a, {"resourceType": "Patient", "name": [{"family": "Smith"}]})
    w["jones"] = create(a, {"resourceType": "Patient", "name": [{"family": "Jones"}]})
    w["o1"] = create(a, obs(w["smith"], "8867-4", "2024-03-01T10:00:00Z"))
    w["o2"] = create(a, obs(w["jones"], "8480-6", "2023-03-01T10:00:00Z"))
    w["b_smith"] = create(b, {"resourceType": "Patient", "name": [{"family": "Smith"}]})
    w["b_o"] = create(b, obs(w["b_smith"], "8867-4", "2024-05-01T10:00:00Z"))
    w["b_cross"] = create(b, obs(w["smith"], "8867-4", "2024-06-01T10:00:00Z"))  # points at a's patient
    return w


def get(c: httpx.Client, path: str, params: Any = None, status: int = 200) -> dict[str, Any]:
    r = c.get(path, params=params)
    assert r.status_code == status, r.text
    result: dict[str, Any] = r.json()
    return result


def test_chain_has_and_includes_over_http(world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    assert ids(get(a, "/v1/fhir/Observation", {"subject:Patient.name": "smith"})) == [world["o1"]]
    assert ids(get(b, "/v1/fhir/Observation", {"subject:Patient.name": "smith"})) == [world["b_o"]]
    assert ids(get(a, "/v1/fhir/Patient", {"_has:Observation:patient:code": "8867-4"})) == [world["smith"]]
    assert ids(get(b, "/v1/fhir/Patient", {"_has:Observation:patient:code": "8867-4"})) == [world["b_smith"]]
    bundle = get(a, "/v1/fhir/Observation", {"code": "8867-4", "_include": "Observation:subject"})
    assert ids(bundle) == [world["o1"]]
    assert ids(bundle, "include") == [world["smith"]]
    # b's observation pointing at a's patient: the include is dropped
    bundle = get(b, "/v1/fhir/Observation", {"_id": world["b_cross"], "_include": "Observation:subject"})
    assert ids(bundle) == [world["b_cross"]]
    assert ids(bundle, "include") == []
    rev = get(a, "/v1/fhir/Patient", {"_id": world["smith"], "_revinclude": "Observation:subject"})
    assert ids(rev, "include") == [world["o1"]]


def test_dates_sort_and_counts_over_http(world: dict[str, Any]) -> None:
    a = world["a"]
    assert ids(get(a, "/v1/fhir/Observation", {"date": "ge2024-01-01"})) == [world["o1"]]
    assert ids(get(a, "/v1/fhir/Observation", {"_sort": "-date"})) == [world["o1"], world["o2"]]
    assert ids(get(a, "/v1/fhir/Observation", {"_sort": "date"})) == [world["o2"], world["o1"]]
    counted = get(a, "/v1/fhir/Observation", {"_summary": "count"})
    assert counted["total"] == 2
    assert "entry" not in counted or counted["entry"] == []


def test_errors_and_lenient_over_http(world: dict[str, Any], served_sandbox: Sandbox, api_key: str) -> None:
    a = world["a"]
    r = a.get("/v1/fhir/Observation", params={"shoe-size": "42"})
    assert r.status_code == 400
    assert "shoe-size" in r.text
    assert "42" not in r.text.replace("shoe-size", "")
    lenient = client(served_sandbox, api_key, Prefer="handling=lenient")
    bundle = get(lenient, "/v1/fhir/Observation", {"shoe-size": "42", "code": "8867-4"})
    assert ids(bundle) == [world["o1"]]
    assert any(e["resource"]["resourceType"] == "OperationOutcome" for e in bundle["entry"])
    assert a.get("/v1/fhir/Observation", params={"date": "not-a-date"}).status_code == 400


def test_everything_over_http(world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    bundle = get(a, f"/v1/fhir/Patient/{world['smith']}/$everything")
    assert sorted(ids(bundle)) == sorted([world["smith"], world["o1"]])
    assert b.get(f"/v1/fhir/Patient/{world['smith']}/$everything").status_code == 404
    assert sorted(ids(get(b, "/v1/fhir/Patient/$everything"))) == sorted([world["b_smith"], world["b_o"]])


def test_paging_45_results_over_http(served_sandbox: Sandbox, make_key: Any) -> None:
    c = client(served_sandbox, make_key())
    pid = create(c, {"resourceType": "Patient", "name": [{"family": "Pager"}]})
    created = {create(c, obs(pid, "8867-4", f"2024-01-{1 + i % 28:02d}")) for i in range(45)}
    seen: list[str] = []
    bundle = get(c, "/v1/fhir/Observation", {"_count": "10", "_sort": "-date"})
    assert bundle["total"] == 45
    while True:
        seen.extend(ids(bundle))
        nxt = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
        if nxt is None:
            break
        bundle = get(c, nxt)
    assert len(seen) == 45
    assert set(seen) == created


def test_everything_returns_what_the_compartment_references(world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    doc = create(a, {"resourceType": "Practitioner", "name": [{"family": "House"}]})
    foreign = create(b, {"resourceType": "Practitioner", "name": [{"family": "Other"}]})
    pid = create(a, {"resourceType": "Patient", "generalPractitioner": [{"reference": f"Practitioner/{doc}"}]})
    o = obs(pid, "8867-4", "2024-01-01T00:00:00Z")
    o["performer"] = [{"reference": f"Practitioner/{foreign}"}]  # another tenant's: never returned
    oid = create(a, o)
    every = get(a, f"/v1/fhir/Patient/{pid}/$everything")
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in every["entry"]}
    assert found == {("Patient", pid), ("Observation", oid), ("Practitioner", doc)}
    assert every["total"] == 3
    only = get(a, f"/v1/fhir/Patient/{pid}/$everything", {"_type": "Practitioner"})
    assert [e["resource"]["id"] for e in only["entry"]] == [doc]
    assert get(a, f"/v1/fhir/Patient/{pid}/$everything", {"_type": "Observation"})["total"] == 1
