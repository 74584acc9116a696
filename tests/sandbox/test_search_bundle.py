"""Searchset rendering, paging, conditional interactions, batch/transaction Bundles, $validate,
$everything and the CapabilityStatement."""

from __future__ import annotations

import httpx

from .conftest import Gw
from .helpers import TENANT_SYSTEM, observation, patient


def _links(bundle: dict[str, object]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}  # type: ignore[attr-defined, union-attr]


def test_searchset_shape(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    r = c.get("/v1/fhir/Patient", params={"_id": pid})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/fhir+json"
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    assert _links(bundle)["self"] == f"{gw.sb.public_base_url}/v1/fhir/Patient?_id={pid}&_count=20"
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"] == f"{gw.sb.public_base_url}/v1/fhir/Patient/{pid}"
    assert entry["resource"] == c.get(f"/v1/fhir/Patient/{pid}").json()


def test_count_clamp_and_paging(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    ids = {c.post("/v1/fhir/Patient", json=patient()).json()["id"] for _ in range(23)}
    assert len(c.get("/v1/fhir/Patient").json()["entry"]) == 20  # default 20
    for raw, expected in [("0", 20), ("-5", 20), ("abc", 20), ("1", 1), ("1000", 23)]:
        bundle = c.get("/v1/fhir/Patient", params={"_count": raw}).json()
        assert len(bundle["entry"]) == expected, raw
    seen: list[str] = []
    page = c.get("/v1/fhir/Patient", params={"_count": 10, "_sort": "_lastUpdated"}).json()
    while True:
        seen += [e["resource"]["id"] for e in page["entry"]]
        links = _links(page)
        if "next" not in links:
            break
        assert links["next"].startswith(f"{gw.sb.public_base_url}/v1/fhir/Patient?_sort=_lastUpdated&_count=10&_page=")
        page = c.get(links["next"]).json()
        assert page["total"] == 23
    assert len(seen) == 23
    assert set(seen) == ids
    updated = [c.get(f"/v1/fhir/Patient/{i}").json()["meta"]["lastUpdated"] for i in seen]
    assert updated == sorted(updated)
    assert "previous" in _links(page)


def test_page_tokens_are_signed(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    for _ in range(3):
        c.post("/v1/fhir/Patient", json=patient())
    nxt = _links(c.get("/v1/fhir/Patient", params={"_count": 1}).json())["next"]
    token = nxt.split("_page=")[1]
    offset, mac = token.split(".")
    forged = f"{int(offset) + 1}.{mac}"
    r = c.get("/v1/fhir/Patient", params={"_count": 1, "_page": forged})
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_PARAMETER"
    assert c.get("/v1/fhir/Patient", params={"_count": 1, "_page": "garbage"}).status_code == 400


def test_summary_count_and_elements(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    for _ in range(3):
        c.post("/v1/fhir/Patient", json=patient(birthDate="1990-01-15"))
    bundle = c.get("/v1/fhir/Patient", params={"_summary": "count"}).json()
    assert bundle["total"] == 3
    assert "entry" not in bundle
    bundle = c.get("/v1/fhir/Patient", params={"_elements": "gender"}).json()
    res = bundle["entry"][0]["resource"]
    assert res["gender"] == "male"
    assert "name" not in res
    assert "birthDate" not in res
    assert {"code": "SUBSETTED", "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"} in res["meta"][
        "tag"
    ]


def test_search_errors_are_clean_400(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.get("/v1/fhir/Patient", params={"no-such-param": "x"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "INVALID_PARAMETER"
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] == body["issues"]
    # lenient handling ignores it and says so in an outcome entry
    r = c.get("/v1/fhir/Patient", params={"no-such-param": "x"}, headers={"Prefer": "handling=lenient"})
    assert r.status_code == 200
    modes = [e["search"]["mode"] for e in r.json().get("entry", [])]
    assert modes == ["outcome"]


def test_post_search(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    r = c.post(
        "/v1/fhir/Patient/_search",
        content=f"_id={pid}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1


def test_conditional_create(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    first = c.post("/v1/fhir/Patient", json=patient(identifier=[{"system": "urn:mrn", "value": "42"}]))
    pid = first.json()["id"]
    r = c.post("/v1/fhir/Patient", json=patient(), headers={"If-None-Exist": f"_id={pid}"})
    assert r.status_code == 200
    assert r.json()["id"] == pid
    r = c.post("/v1/fhir/Patient", json=patient(), headers={"If-None-Exist": "_id=absent"})
    assert r.status_code == 201
    r = c.post("/v1/fhir/Patient", json=patient(), headers={"If-None-Exist": "_lastUpdated=gt2000-01-01"})
    assert r.status_code == 412
    assert r.json()["code"] == "PRECONDITION_FAILED"
    assert c.get("/v1/fhir/Patient").json()["total"] == 2


def test_conditional_update_and_delete(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    r = c.put("/v1/fhir/Patient", params={"_id": pid}, json=patient(gender="female"))
    assert r.status_code == 200
    assert r.json()["id"] == pid
    assert r.json()["meta"]["versionId"] == "2"
    r = c.put("/v1/fhir/Patient", params={"_id": "nobody"}, json=patient())
    assert r.status_code == 201
    assert c.put("/v1/fhir/Patient", params={"_id": "nobody"}, json=patient(id="planted")).status_code == 404
    assert c.put("/v1/fhir/Patient", params={"_lastUpdated": "gt2000"}, json=patient()).status_code == 412
    assert c.delete("/v1/fhir/Patient", params={"_lastUpdated": "gt2000"}).status_code == 412
    assert c.delete("/v1/fhir/Patient", params={"_id": pid}).status_code == 204
    assert c.get(f"/v1/fhir/Patient/{pid}").status_code == 404
    assert c.delete("/v1/fhir/Patient", params={"_id": pid}).status_code == 204
    assert c.get("/v1/fhir/Patient").json()["total"] == 1


def test_batch_entries_are_independent(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "POST", "url": "Patient"}, "resource": patient()},
            {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient", "gender": "x"}},
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
            {"request": {"method": "PUT", "url": f"Patient/{pid}"}, "resource": patient(id=pid, gender="female")},
            {
                "request": {"method": "POST", "url": "Patient"},
                "resource": patient(meta={"tag": [{"system": TENANT_SYSTEM, "code": "org_other"}]}),
            },
            {"request": {"method": "GET", "url": "Patient?_count=1"}},
        ],
    }
    r = c.post("/v1/fhir", json=bundle)
    assert r.status_code == 200
    out = r.json()
    assert out["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "200 OK", "200 OK", "403 Forbidden", "200 OK"]
    created = out["entry"][0]
    assert created["response"]["location"].startswith("Patient/")
    assert created["response"]["etag"] == 'W/"1"'
    assert created["resource"]["meta"]["tag"] == [{"system": TENANT_SYSTEM, "code": tenant}]
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert out["entry"][3]["resource"]["meta"]["versionId"] == "2"
    assert out["entry"][5]["resource"]["resourceType"] == "Bundle"
    assert c.get("/v1/fhir/Patient").json()["total"] == 2


def test_transaction_resolves_urn_uuid_references(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    purn = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:aaaaaaaa-1cbf-4d64-b04d-cd9187a4c6e0",
                "request": {"method": "POST", "url": "Observation"},
                "resource": observation(purn),
            },
            {"fullUrl": purn, "request": {"method": "POST", "url": "Patient"}, "resource": patient()},
        ],
    }
    r = c.post("/v1/fhir", json=bundle)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    obs_entry, pat_entry = out["entry"]
    pid = pat_entry["resource"]["id"]
    assert pat_entry["response"]["status"] == "201 Created"
    assert obs_entry["resource"]["subject"]["reference"] == f"Patient/{pid}"
    oid = obs_entry["resource"]["id"]
    assert c.get(f"/v1/fhir/Observation/{oid}").json()["subject"]["reference"] == f"Patient/{pid}"
    found = c.get("/v1/fhir/Observation", params={"subject": f"Patient/{pid}"}).json()
    assert found["total"] == 1


def test_transaction_is_all_or_nothing(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    before = c.get(f"/v1/fhir/Patient/{pid}").json()
    for bad_entry, status, code in [
        (
            {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient", "gender": "x"}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            {
                "request": {"method": "POST", "url": "Patient"},
                "resource": patient(meta={"tag": [{"system": TENANT_SYSTEM, "code": "org_other"}]}),
            },
            403,
            "TENANT_CONFLICT",
        ),
        ({"request": {"method": "DELETE", "url": "Patient/absent"}}, 404, "NOT_FOUND"),
        (
            {"request": {"method": "PUT", "url": f"Patient/{pid}"}, "resource": patient(id=pid), "ifMatch": 'W/"9"'},
            409,
            "VERSION_CONFLICT",
        ),
    ]:
        if "ifMatch" in bad_entry:
            bad_entry["request"]["ifMatch"] = bad_entry.pop("ifMatch")  # type: ignore[index]
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"request": {"method": "POST", "url": "Patient"}, "resource": patient()},
                {"request": {"method": "PUT", "url": f"Patient/{pid}"}, "resource": patient(id=pid, gender="female")},
                {"request": {"method": "POST", "url": "Observation"}, "resource": observation(f"Patient/{pid}")},
                bad_entry,
            ],
        }
        r = c.post("/v1/fhir", json=bundle)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["code"] == code
        assert "Bundle.entry[3]" in body["issues"][0]["expression"]
        assert c.get("/v1/fhir/Patient").json()["total"] == 1
        assert c.get("/v1/fhir/Observation").json()["total"] == 0
        assert c.get(f"/v1/fhir/Patient/{pid}").json() == before


def test_bundle_shape_errors(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    assert c.post("/v1/fhir", json=patient()).status_code == 422
    assert c.post("/v1/fhir", json={"resourceType": "Bundle", "type": "collection"}).status_code == 422
    r = c.post("/v1/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": patient()}]})
    assert r.status_code == 422
    reader = gw.client(gw.key(scope="read"))
    assert reader.post("/v1/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": []}).status_code == 403
    writer = gw.client(gw.key(scope="write"))
    r = writer.post(
        "/v1/fhir",
        json={"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Patient"}}]},
    )
    assert r.json()["entry"][0]["response"]["status"] == "403 Forbidden"


def test_validate_operation(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.post("/v1/fhir/Patient/$validate", json=patient())
    assert r.status_code == 200
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    bad = {"resourceType": "Patient", "gender": "secret-value"}
    r = c.post(
        "/v1/fhir/Patient/$validate",
        json={"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]},
    )
    assert r.status_code == 200
    errors = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert errors[0]["expression"] == ["Patient.gender"]
    assert "secret-value" not in r.text
    assert c.get("/v1/fhir/Patient").json()["total"] == 0  # nothing stored
    assert c.post("/v1/fhir/Patient/$validate", json=observation()).status_code == 422


def test_everything(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    other = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    oid = c.post("/v1/fhir/Observation", json=observation(f"Patient/{pid}")).json()["id"]
    c.post("/v1/fhir/Observation", json=observation(f"Patient/{other}"))
    for method in ("GET", "POST"):
        r = c.request(method, f"/v1/fhir/Patient/{pid}/$everything", json=None)
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]} == {
            ("Patient", pid),
            ("Observation", oid),
        }
    assert c.get("/v1/fhir/Patient/absent/$everything").status_code == 404
    everyone = c.get("/v1/fhir/Patient/$everything", params={"_count": 2}).json()
    assert everyone["total"] == 4
    nxt = _links(everyone)["next"]
    assert nxt.startswith(f"{gw.sb.public_base_url}/v1/fhir/Patient/$everything?")
    assert len(c.get(nxt).json()["entry"]) == 2
    assert c.get(f"/v1/fhir/Patient/{pid}/$everything", params={"bogus": "1"}).status_code == 400


def test_capability_statement_lists_what_works(gw: Gw) -> None:
    cap = gw.client().get("/v1/metadata").json()
    rest = cap["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"batch", "transaction"}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert "Patient" in by_type
    assert "SubstancePolymer" in by_type
    pat = by_type["Patient"]
    assert {i["code"] for i in pat["interaction"]} == {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    }
    assert pat["updateCreate"] is False
    assert pat["conditionalDelete"] == "single"
    assert {o["name"] for o in pat["operation"]} == {"validate", "everything"}
    assert {o["name"] for o in by_type["Observation"]["operation"]} == {"validate"}
    names = {p["name"] for p in pat["searchParam"]}
    assert {"_id", "_lastUpdated", "_tag"} <= names
    # every advertised search parameter is accepted by the search route
    c, _ = gw.tenant_client()
    for name in sorted(names)[:40]:
        param = next(p for p in pat["searchParam"] if p["name"] == name)
        value = {
            "date": "ge2020-01-01",
            "token": "x",
            "string": "x",
            "reference": "Patient/x",
            "number": "1",
            "quantity": "1",
            "uri": "http://x",
            "special": "x",
            "composite": "x$y",
        }[param["type"]]
        if name in ("_content", "_text", "_list", "_query", "_has", "near"):
            continue
        r = c.get("/v1/fhir/Patient", params={name: value})
        assert r.status_code == 200, (name, r.text)


def test_async_transport() -> None:
    import asyncio

    from clinikfhir.sandbox import Sandbox

    async def main(sb: Sandbox, key: str) -> None:
        async with httpx.AsyncClient(
            base_url="http://localhost", transport=sb.async_transport(), headers={"x-api-key": key}
        ) as c:
            created = await asyncio.gather(*[c.post("/v1/fhir/Patient", json=patient()) for _ in range(10)])
            assert {r.status_code for r in created} == {201}
            r = await c.get("/v1/fhir/Patient")
            assert r.json()["total"] == 10

    with Sandbox() as sb:
        asyncio.run(main(sb, sb.create_key("org_async")))


def test_transaction_conditional_create_points_urn_at_existing_and_patch_entries(gw: Gw) -> None:
    import base64

    c, _ = gw.tenant_client()
    existing = c.post("/v1/fhir/Patient", json=patient(identifier=[{"system": "urn:mrn", "value": "7"}])).json()
    purn = "urn:uuid:5b0a3a26-60a8-4bd4-8f58-0d6f2f1b1f11"
    patch_ops = base64.b64encode(b'[{"op":"replace","path":"/gender","value":"female"}]').decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": purn,
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"_id={existing['id']}"},
                "resource": patient(),
            },
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(purn)},
            {
                "request": {"method": "PATCH", "url": f"Patient/{existing['id']}"},
                "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch_ops},
            },
            {"request": {"method": "GET", "url": f"Patient/{existing['id']}"}},
        ],
    }
    r = c.post("/v1/fhir", json=bundle)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"  # matched: nothing created
    assert entries[1]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert entries[2]["resource"]["gender"] == "female"
    assert entries[3]["resource"]["gender"] == "female"  # GET runs after the writes
    assert c.get("/v1/fhir/Patient").json()["total"] == 1
    assert c.put(f"/v1/fhir/Patient/{existing['id']}", json={**existing, "gender": "other"}).status_code == 200
    assert c.delete(f"/v1/fhir/Patient/{existing['id']}").status_code == 204
    assert c.put(f"/v1/fhir/Patient/{existing['id']}", json=existing).status_code == 404  # deleted: no resurrection


def test_index_lag_makes_search_eventually_consistent() -> None:
    from clinikfhir.sandbox import ManualClock, Sandbox

    clock = ManualClock()
    with Sandbox(index_lag=10, clock=clock) as sb:
        c = sb.client(sb.create_key("org_lag"))
        pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
        assert c.get(f"/v1/fhir/Patient/{pid}").status_code == 200  # reads: immediate
        assert c.get("/v1/fhir/Patient", params={"_id": pid}).json()["total"] == 0  # search: not yet
        r = c.post("/v1/fhir/Patient", json=patient(), headers={"If-None-Exist": f"_id={pid}"})
        assert r.status_code == 201  # conditional create sees the same lagging index
        clock.advance(9.9)
        assert c.get("/v1/fhir/Patient", params={"_id": pid}).json()["total"] == 0
        clock.advance(0.1)
        assert c.get("/v1/fhir/Patient", params={"_id": pid}).json()["total"] == 1
        assert c.delete(f"/v1/fhir/Patient/{pid}").status_code == 204
        assert c.get(f"/v1/fhir/Patient/{pid}").status_code == 404  # read: gone at once
        lingering = c.get("/v1/fhir/Patient", params={"_id": pid}).json()
        assert lingering["total"] == 1  # search: the delete lingers
        assert lingering["entry"][0]["resource"]["id"] == pid
        clock.advance(10)
        assert c.get("/v1/fhir/Patient", params={"_id": pid}).json()["total"] == 0
        assert sb.internal_errors == []


def test_index_lag_discards_rolled_back_writes() -> None:
    from clinikfhir.sandbox import ManualClock, Sandbox

    clock = ManualClock()
    with Sandbox(index_lag=0.05, clock=clock) as sb:
        c = sb.client(sb.create_key("org_lag2"))
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"request": {"method": "POST", "url": "Patient"}, "resource": patient()},
                {"request": {"method": "DELETE", "url": "Patient/absent"}},
            ],
        }
        assert c.post("/v1/fhir", json=bundle).status_code == 404
        clock.advance(0.1)
        assert c.get("/v1/fhir/Patient").json()["total"] == 0
        assert sb.internal_errors == []
