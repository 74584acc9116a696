"""The write path: ``Prefer: return=minimal | representation | OperationOutcome`` (FHIR R4
http.html#return) on create, update, patch, batch and transaction, and what a transaction sees of its
own writes (index rows are inserted together, before any search inside the transaction and at commit).

Every test runs over real HTTP (uvicorn) and through the in-process transport (the ``gw`` fixture).
"""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Gw
from .helpers import observation, patient

MINIMAL = {"Prefer": "return=minimal"}


def _ids(c: httpx.Client, query: str) -> list[str]:
    r = c.get(f"/v1/fhir/{query}")
    assert r.status_code == 200, r.text
    return sorted(e["resource"]["id"] for e in r.json().get("entry", []))


def _tx(entries: list[dict[str, Any]], btype: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": btype, "entry": entries}


def _post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    entry["request"].update(request)
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


def test_create_with_return_minimal_answers_headers_only_and_stores_the_resource(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.post("/v1/fhir/Patient", json=patient(), headers=MINIMAL)
    assert r.status_code == 201
    assert r.content == b""
    assert "content-type" not in r.headers
    assert r.headers["preference-applied"] == "return=minimal"
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["last-modified"].endswith(" GMT")
    location = r.headers["location"]
    rid = location.split("/")[4]
    assert location == f"/v1/fhir/Patient/{rid}/_history/1"
    stored = c.get(f"/v1/fhir/Patient/{rid}")
    assert stored.status_code == 200
    assert stored.json()["name"] == patient()["name"]
    assert _ids(c, "Patient?family=smith") == [rid]


def test_update_and_patch_with_return_minimal(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    rid = created["id"]
    changed = {**created, "gender": "female"}
    r = c.put(f"/v1/fhir/Patient/{rid}", json=changed, headers={"Prefer": 'return="minimal"'})
    assert (r.status_code, r.content, r.headers["etag"]) == (200, b"", 'W/"2"')
    assert "location" not in r.headers
    r = c.patch(
        f"/v1/fhir/Patient/{rid}",
        json=[{"op": "replace", "path": "/gender", "value": "other"}],
        headers={"Prefer": "handling=strict; return=minimal"},
    )
    assert (r.status_code, r.content, r.headers["etag"]) == (200, b"", 'W/"3"')
    assert c.get(f"/v1/fhir/Patient/{rid}").json()["gender"] == "other"
    assert _ids(c, "Patient?gender=other") == [rid]
    assert _ids(c, "Patient?gender=female") == []


def test_return_representation_is_the_default_and_operation_outcome_is_honoured(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    for headers in ({}, {"Prefer": "return=representation"}, {"Prefer": "return=unknown-value"}):
        r = c.post("/v1/fhir/Patient", json=patient(), headers=headers)
        assert r.status_code == 201
        assert r.json()["resourceType"] == "Patient"
        assert "preference-applied" not in r.headers
    r = c.post("/v1/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"
    assert r.headers["preference-applied"] == "return=OperationOutcome"
    assert r.headers["location"].startswith("/v1/fhir/Patient/")


def test_conditional_create_that_matches_answers_minimal_too(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    ident = [{"system": "urn:test", "value": "cond-1"}]
    first = c.post("/v1/fhir/Patient", json=patient(identifier=ident)).json()
    r = c.post(
        "/v1/fhir/Patient",
        json=patient(identifier=ident),
        headers={**MINIMAL, "If-None-Exist": "identifier=urn:test|cond-1"},
    )
    assert (r.status_code, r.content, r.headers["etag"]) == (200, b"", 'W/"1"')
    assert _ids(c, "Patient?identifier=urn:test|cond-1") == [first["id"]]


def test_transaction_with_return_minimal_carries_responses_without_resources(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    entries = [_post(patient(), "urn:uuid:7c5d1e1e-0000-4000-8000-000000000001")]
    entries += [_post(observation("urn:uuid:7c5d1e1e-0000-4000-8000-000000000001")) for _ in range(3)]
    r = c.post("/v1/fhir", json=_tx(entries), headers=MINIMAL)
    assert r.status_code == 200, r.text
    assert r.headers["preference-applied"] == "return=minimal"
    out = r.json()
    assert out["type"] == "transaction-response"
    assert len(out["entry"]) == 4
    for entry in out["entry"]:
        assert "resource" not in entry
        response = entry["response"]
        assert response["status"] == "201 Created"
        assert response["etag"] == 'W/"1"'
        assert response["lastModified"].endswith("Z")
        rtype, rid, _, version = response["location"].split("/")
        assert version == "1"
        assert entry["fullUrl"].endswith(f"/v1/fhir/{rtype}/{rid}")
    pid = out["entry"][0]["response"]["location"].split("/")[1]
    assert len(_ids(c, f"Observation?subject=Patient/{pid}")) == 3


def test_batch_with_return_minimal_keeps_what_reads_return(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    entries = [
        _post(observation(f"Patient/{pid}")),
        {"request": {"method": "GET", "url": f"Patient/{pid}"}},
        {"request": {"method": "GET", "url": f"Observation?subject=Patient/{pid}"}},
    ]
    out = c.post("/v1/fhir", json=_tx(entries, "batch"), headers=MINIMAL).json()
    assert out["type"] == "batch-response"
    created, read, search = out["entry"]
    assert "resource" not in created
    assert created["response"]["status"] == "201 Created"
    assert read["resource"]["id"] == pid
    assert search["resource"]["total"] == 1
    with_outcome = c.post("/v1/fhir", json=_tx(entries[:1], "batch"), headers={"Prefer": "return=OperationOutcome"})
    entry = with_outcome.json()["entry"][0]
    assert "resource" not in entry
    assert entry["response"]["outcome"]["resourceType"] == "OperationOutcome"
    full = c.post("/v1/fhir", json=_tx(entries[:1], "batch")).json()["entry"][0]
    assert full["resource"]["resourceType"] == "Observation"


def test_a_transaction_searches_what_it_wrote_before_the_search(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    entries: list[dict[str, Any]] = [_post(observation(code={"coding": [{"system": "urn:t", "code": "tx-1"}]}))]
    entries *= 3
    entries.append({"request": {"method": "GET", "url": "Observation?code=urn:t|tx-1"}})
    out = c.post("/v1/fhir", json=_tx(entries)).json()
    assert out["entry"][3]["resource"]["total"] == 3  # GET runs after the creates, in the same transaction


def test_conditional_creates_in_one_transaction_see_each_other(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    ident = [{"system": "urn:test", "value": "same"}]
    entries = [_post(patient(identifier=ident), ifNoneExist="identifier=urn:test|same") for _ in range(2)]
    out = c.post("/v1/fhir", json=_tx(entries)).json()
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == ["201 Created", "200 OK"]
    assert len(_ids(c, "Patient?identifier=urn:test|same")) == 1


def test_an_update_inside_a_transaction_replaces_the_rows_it_queued(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    rid = created["id"]
    entries = [
        {"resource": {**created, "name": [{"family": "Jones"}]}, "request": {"method": "PUT", "url": f"Patient/{rid}"}},
        {"resource": {**created, "name": [{"family": "Brown"}]}, "request": {"method": "PUT", "url": f"Patient/{rid}"}},
        {"request": {"method": "GET", "url": "Patient?family=jones"}},
        {"request": {"method": "GET", "url": "Patient?family=brown"}},
    ]
    out = c.post("/v1/fhir", json=_tx(entries)).json()
    # both updates hit the same resource: the second replaced the index rows the first had queued
    assert [e["response"]["etag"] for e in out["entry"][:2]] == ['W/"2"', 'W/"3"']
    assert out["entry"][2]["resource"]["total"] == 0
    assert out["entry"][3]["resource"]["total"] == 1
    assert _ids(c, "Patient?family=brown") == [rid]
    assert _ids(c, "Patient?family=smith") == []


def test_a_failed_transaction_leaves_no_index_rows_behind(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    code = {"coding": [{"system": "urn:t", "code": "rolled-back"}]}
    entries = [_post(observation(code=code)) for _ in range(3)]
    entries.append({"request": {"method": "DELETE", "url": "Patient/does-not-exist"}})
    r = c.post("/v1/fhir", json=_tx(entries))
    assert r.status_code == 404
    assert _ids(c, "Observation?code=urn:t|rolled-back") == []
    ok = c.post("/v1/fhir", json=_tx(entries[:1]))
    assert ok.status_code == 200
    assert len(_ids(c, "Observation?code=urn:t|rolled-back")) == 1


def test_server_assigned_ids_are_random_uuids(gw: Gw) -> None:
    """Ids are random UUIDs (RFC 9562 version 4, gateway.md's choice), for a lone create and for a
    transaction's creates alike, and distinct."""
    import uuid

    c, _ = gw.tenant_client()
    r = c.post("/v1/fhir/Patient", json=patient())
    assert r.status_code == 201, r.text
    tx = c.post("/v1/fhir", json=_tx([_post(patient(), f"urn:uuid:{uuid.uuid4()}") for _ in range(3)]))
    assert tx.status_code == 200, tx.text
    ids = [r.json()["id"], *(e["response"]["location"].split("/")[1] for e in tx.json()["entry"])]
    assert len(set(ids)) == 4
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert str(parsed) == rid
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_a_rerun_transaction_points_its_references_at_the_resources_its_conditional_creates_matched(gw: Gw) -> None:
    """Creates are prepared (references to the ids just minted) before the transaction takes the
    writer; when a conditional create matches, its urn:uuid moves to the resource it matched, and the
    references (and the preparation) follow it."""
    c, _ = gw.tenant_client()
    urn = "urn:uuid:7c5d1e1e-0000-4000-8000-0000000000aa"
    ident = [{"system": "urn:test", "value": "rerun"}]
    entries = [
        _post(patient(identifier=ident), urn, ifNoneExist="identifier=urn:test|rerun"),
        _post(observation(urn)),
        _post(observation(urn, status="amended")),
    ]
    first = c.post("/v1/fhir", json=_tx(entries))
    assert first.status_code == 200, first.text
    pid = first.json()["entry"][0]["response"]["location"].split("/")[1]
    second = c.post("/v1/fhir", json=_tx(entries))
    assert second.status_code == 200, second.text
    assert [e["response"]["status"] for e in second.json()["entry"]] == ["200 OK", "201 Created", "201 Created"]
    observations = c.get(f"/v1/fhir/Observation?subject=Patient/{pid}").json()
    assert observations["total"] == 4
    assert {e["resource"]["subject"]["reference"] for e in observations["entry"]} == {f"Patient/{pid}"}


def test_a_transaction_reports_the_first_failing_entry_in_processing_order(gw: Gw) -> None:
    """A create's validation runs before the transaction takes the writer, but its error is still
    reported in the entry's turn: after the checks of earlier entries (here an unknown type, a
    failing DELETE) and of its own route."""
    c, _ = gw.tenant_client()
    invalid = observation(status="not-a-status")
    bad_type = {"resource": {"resourceType": "Foo"}, "request": {"method": "POST", "url": "Foo"}}
    gone = {"request": {"method": "DELETE", "url": "Patient/does-not-exist"}}
    cases = [
        ([_post(invalid), bad_type], 422, "Bundle.entry[0]"),
        ([bad_type, _post(invalid)], 400, "Bundle.entry[0]"),
        ([_post(invalid), gone], 404, "Bundle.entry[1]"),  # DELETEs run first
        ([_post(observation()), _post(invalid), _post(patient(gender="x"))], 422, "Bundle.entry[1]"),
    ]
    for entries, status, where in cases:
        r = c.post("/v1/fhir", json=_tx(entries))
        assert r.status_code == status, r.text
        assert r.json()["issue"][0]["expression"][0] == where
    assert _ids(c, "Observation") == []
