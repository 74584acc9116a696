"""References written as the sandbox's own absolute URL (the ``fullUrl`` it returns, in-process or
served) are the same resource as ``Type/id``: matched by id, ``Type/id``, the absolute URL, chains,
``_include``/``_revinclude`` and ``$everything``; foreign absolute URLs stay URL-only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinikfhir.sandbox import Sandbox
from clinikfhir.sandbox.search._index import split_reference

from .conftest import Store

LOINC = "http://loinc.org"


def test_split_reference_recognises_the_own_base() -> None:
    assert split_reference("http://localhost/v1/fhir/Patient/p1") == (
        "Patient",
        "p1",
        "http://localhost/v1/fhir/Patient/p1",
    )
    assert split_reference("http://127.0.0.1:8123/v1/fhir/Patient/p1/_history/3") == (
        "Patient",
        "p1",
        "http://127.0.0.1:8123/v1/fhir/Patient/p1",
    )
    # foreign bases, unknown types and malformed ids keep only the URL
    assert split_reference("http://other.org/fhir/Patient/p1") == (None, None, "http://other.org/fhir/Patient/p1")
    assert split_reference("http://localhost/v1/fhir/Nope/p1")[:2] == (None, None)
    assert split_reference("http://localhost/v1/fhir/Patient/a b")[:2] == (None, None)
    assert split_reference("http://localhost/v1/fhir/Patient/p1/extra")[:2] == (None, None)


def _obs(oid: str, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": subject},
    }


def test_engine_matches_absolute_own_base_references(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}]})
    store.put({"resourceType": "Patient", "id": "p2", "name": [{"family": "Jones"}]})
    store.put(_obs("abs", "http://localhost/v1/fhir/Patient/p1"))
    store.put(_obs("served", "http://127.0.0.1:9/v1/fhir/Patient/p1/_history/2"))
    store.put(_obs("rel", "Patient/p1"))
    store.put(_obs("foreign", "http://other.org/fhir/Patient/p1"))
    store.put(_obs("other", "Patient/p2"))
    local = ["abs", "rel", "served"]
    assert store.ids("Observation", "subject=Patient/p1") == local
    assert store.ids("Observation", "subject=p1") == local
    assert store.ids("Observation", "subject:Patient=p1") == local
    assert store.ids("Observation", "patient=Patient/p1") == local
    # searching by an own-base absolute URL matches the relative and absolute forms alike
    assert store.ids("Observation", "subject=http://localhost/v1/fhir/Patient/p1") == local
    assert store.ids("Observation", "subject=http://127.0.0.1:5555/v1/fhir/Patient/p1/_history/1") == local
    # a foreign URL is matched by its full text only
    assert store.ids("Observation", "subject=http://other.org/fhir/Patient/p1") == ["foreign"]
    assert store.ids("Observation", "subject.name=smith") == local
    assert store.ids("Patient", "_has:Observation:subject:code=8867-4") == ["p1", "p2"]
    inc = store.run("Observation", "_id=abs,served&_include=Observation:subject")
    assert inc.includes == [("Patient", "p1")]
    rev = store.run("Patient", "_id=p1&_revinclude=Observation:subject")
    assert sorted(rev.includes) == [("Observation", i) for i in local]
    from clinikfhir.sandbox import search

    every = search.everything(store.conn, env="test", tenant="org_a", patient_id="p1")
    assert every.ids == ["Patient/p1", *(f"Observation/{i}" for i in local)]
    # another tenant's absolute reference to p1 gives org_a nothing and itself nothing of org_a's
    store.put(_obs("b_abs", "http://localhost/v1/fhir/Patient/p1"), tenant="org_b")
    assert store.ids("Observation", "subject=Patient/p1", tenant="org_b") == ["b_abs"]
    assert store.run("Observation", "_id=b_abs&_include=Observation:subject", tenant="org_b").includes == []
    assert sorted(store.run("Patient", "_id=p1&_revinclude=Observation:subject").includes) == [
        ("Observation", i) for i in local
    ]


def test_absolute_url_with_wrong_type_modifier_is_rejected(store: Store) -> None:
    from clinikfhir.sandbox.search import SearchError

    with pytest.raises(SearchError):
        store.ids("Observation", "subject:Group=http://localhost/v1/fhir/Patient/p1")


def _bundle_ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == mode)


def _check(c: httpx.Client) -> None:
    r = c.post("/v1/fhir/Patient", json={"resourceType": "Patient", "name": [{"family": "Abs"}]})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    found = c.get("/v1/fhir/Patient", params={"_id": pid}).json()
    full_url = found["entry"][0]["fullUrl"]
    assert full_url == f"{c.base_url}/v1/fhir/Patient/{pid}".replace("//v1", "/v1")
    made: list[str] = []
    for subject in (full_url, f"{full_url}/_history/1", f"Patient/{pid}"):
        r = c.post("/v1/fhir/Observation", json={k: v for k, v in _obs("x", subject).items() if k != "id"})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    made.sort()
    for value in (f"Patient/{pid}", pid, full_url):
        assert _bundle_ids(c.get("/v1/fhir/Observation", params={"subject": value}).json()) == made
    chained = c.get("/v1/fhir/Observation", params={"subject:Patient.name": "abs", "_count": "100"}).json()
    assert set(made) <= set(_bundle_ids(chained))
    rev = c.get("/v1/fhir/Patient", params={"_id": pid, "_revinclude": "Observation:subject"}).json()
    assert _bundle_ids(rev, "include") == made
    inc = c.get("/v1/fhir/Observation", params={"_id": made[0], "_include": "Observation:subject"}).json()
    assert _bundle_ids(inc, "include") == [pid]
    every = c.get(f"/v1/fhir/Patient/{pid}/$everything").json()
    assert sorted(e["resource"]["id"] for e in every["entry"]) == sorted([pid, *made])


def test_own_base_references_in_process(sandbox: Sandbox) -> None:
    key = sandbox.create_key("org_abs")
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport(), headers={"x-api-key": key}) as c:
        _check(c)


def test_own_base_references_over_http(served_sandbox: Sandbox) -> None:
    key = served_sandbox.create_key("org_abs_http")
    with httpx.Client(base_url=served_sandbox.base_url, headers={"x-api-key": key}, timeout=30) as c:
        _check(c)
