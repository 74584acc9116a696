"""Create, read, vread, update, patch, delete, versioning and history, over HTTP and in-process."""

from __future__ import annotations

import re

from .conftest import Gw
from .helpers import TENANT_SYSTEM, observation, patient, tenant_tags

FHIR = {"Content-Type": "application/fhir+json"}


def test_create_returns_201_with_id_tag_version_and_headers(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    r = c.post("/v1/fhir/Patient", json=patient(id="client-chosen"), headers=FHIR)
    assert r.status_code == 201
    body = r.json()
    # a random UUID (RFC 9562: version 4, variant 10xx); see test_write_path
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", body["id"])
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["meta"]["lastUpdated"])
    assert tenant_tags(body) == [{"system": TENANT_SYSTEM, "code": tenant}]
    assert r.headers["content-type"] == "application/fhir+json"
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"] == f"/v1/fhir/Patient/{body['id']}/_history/1"
    assert r.headers["last-modified"].endswith(" GMT")
    assert body["name"] == [{"family": "Smith", "given": ["John"]}]


def test_read_returns_stored_text_and_headers(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    r = c.get(f"/v1/fhir/Patient/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["etag"] == 'W/"1"'


def test_decimals_keep_their_digits(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"w"},'
        b'"valueQuantity":{"value":72.50,"unit":"kg"}}'
    )
    r = c.post("/v1/fhir/Observation", content=raw, headers=FHIR)
    assert r.status_code == 201
    assert b'"value":72.50' in r.content
    assert b'"value":72.50' in c.get(f"/v1/fhir/Observation/{r.json()['id']}").content


def test_every_r4_type_including_r4_only_ones(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.post("/v1/fhir/Basic", json={"resourceType": "Basic", "code": {"text": "x"}})
    assert r.status_code == 201
    r = c.post("/v1/fhir/SubstancePolymer", json={"resourceType": "SubstancePolymer"})
    assert r.status_code == 201, r.text


def test_unknown_type_is_400(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    for method, path in [("GET", "/v1/fhir/Patients"), ("POST", "/v1/fhir/Nope"), ("GET", "/v1/fhir/patient/1")]:
        r = c.request(method, path, json={"resourceType": "Nope"} if method == "POST" else None)
        assert r.status_code == 400
        assert r.json()["code"] == "INVALID_RESOURCE_TYPE"


def test_create_resource_type_mismatch_is_422(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.post("/v1/fhir/Patient", json=observation())
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["issues"] == body["issue"]
    assert body["issues"][0]["expression"] == ["Patient.resourceType"]
    r = c.post("/v1/fhir/Patient", json={"name": []})
    assert r.status_code == 422


def test_validation_errors_name_paths_never_values(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    secret = "SSN-123-45-6789-secret"
    r = c.post("/v1/fhir/Patient", json={"resourceType": "Patient", "gender": secret, "birthDate": secret})
    assert r.status_code == 422
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["error"] == "Validation Error"
    assert body["requestId"] == r.headers["x-request-id"]
    paths = {e for issue in body["issues"] for e in issue.get("expression", [])}
    assert "Patient.gender" in paths
    assert "Patient.birthDate" in paths
    assert secret not in r.text
    assert secret[:10] not in r.text
    # nothing was written
    assert c.get("/v1/fhir/Patient").json()["total"] == 0


def test_malformed_json_is_400_invalid_json(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.post("/v1/fhir/Patient", content=b'{"resourceType": "Patient", "name": ', headers=FHIR)
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_JSON"
    r = c.post(
        "/v1/fhir/Patient", content=b'{"resourceType":"Observation","valueQuantity":{"value":NaN}}', headers=FHIR
    )
    assert r.status_code == 400
    r = c.post("/v1/fhir/Patient", headers=FHIR)
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_JSON"


def test_put_updates_owned_resource_and_increments_version(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    pid = created["id"]
    r = c.put(f"/v1/fhir/Patient/{pid}", json=patient(id=pid, gender="female"))
    assert r.status_code == 200
    body = r.json()
    assert body["meta"]["versionId"] == "2"
    assert body["gender"] == "female"
    assert body["meta"]["lastUpdated"] > created["meta"]["lastUpdated"]
    assert tenant_tags(body) == [{"system": TENANT_SYSTEM, "code": tenant}]
    assert r.headers["etag"] == 'W/"2"'
    assert c.get(f"/v1/fhir/Patient/{pid}").json() == body


def test_put_never_creates(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    r = c.put("/v1/fhir/Patient/planted-id", json=patient(id="planted-id"))
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
    assert c.get("/v1/fhir/Patient/planted-id").status_code == 404


def test_put_id_rules(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    assert c.put(f"/v1/fhir/Patient/{pid}", json=patient()).status_code == 422  # no id
    r = c.put(f"/v1/fhir/Patient/{pid}", json=patient(id="other"))
    assert r.status_code == 422
    assert r.json()["issues"][0]["expression"] == ["Patient.id"]
    assert c.put("/v1/fhir/Patient", json=patient()).status_code == 405


def test_if_match(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    r = c.put(f"/v1/fhir/Patient/{pid}", json=patient(id=pid), headers={"If-Match": 'W/"7"'})
    assert r.status_code == 409
    assert r.json()["code"] == "VERSION_CONFLICT"
    r = c.put(f"/v1/fhir/Patient/{pid}", json=patient(id=pid, gender="other"), headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    assert c.patch(f"/v1/fhir/Patient/{pid}", json=ops, headers={"If-Match": 'W/"1"'}).status_code == 409
    assert c.patch(f"/v1/fhir/Patient/{pid}", json=ops, headers={"If-Match": '"2"'}).status_code == 200
    assert c.delete(f"/v1/fhir/Patient/{pid}", headers={"If-Match": 'W/"2"'}).status_code == 409
    assert c.delete(f"/v1/fhir/Patient/{pid}", headers={"If-Match": 'W/"3"'}).status_code == 204


def test_json_patch(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient(telecom=[{"system": "email", "value": "a@b.c"}])).json()["id"]
    ops = [
        {"op": "test", "path": "/gender", "value": "male"},
        {"op": "replace", "path": "/name/0/family", "value": "Johnson"},
        {"op": "add", "path": "/telecom/-", "value": {"system": "phone", "value": "+1-555-0200"}},
        {"op": "copy", "from": "/name/0", "path": "/name/-"},
        {"op": "move", "from": "/name/1", "path": "/name/0"},
        {"op": "remove", "path": "/name/1"},
    ]
    r = c.patch(f"/v1/fhir/Patient/{pid}", json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["versionId"] == "2"
    assert body["name"] == [{"family": "Johnson", "given": ["John"]}]
    assert body["telecom"][-1] == {"system": "phone", "value": "+1-555-0200"}


def test_json_patch_failures_are_422_and_change_nothing(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    pid = created["id"]
    cases = [
        [{"op": "test", "path": "/gender", "value": "female"}],
        [{"op": "replace", "path": "/nothing/here", "value": 1}],
        [{"op": "add", "path": "/telecom/-", "value": {"system": "phone", "value": "1"}}],
        [{"op": "frobnicate", "path": "/gender"}],
        [{"op": "replace", "path": "/gender"}],
        [{"op": "replace", "path": "/gender", "value": "not-a-gender-value"}],
        [{"op": "replace", "path": "/id", "value": "elsewhere"}],
        [{"op": "replace", "path": "/resourceType", "value": "Observation"}],
    ]
    for ops in cases:
        r = c.patch(f"/v1/fhir/Patient/{pid}", json=ops)
        assert r.status_code == 422, (ops, r.text)
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert "not-a-gender-value" not in r.text
    assert c.get(f"/v1/fhir/Patient/{pid}").json() == created


def test_merge_patch_by_body_shape(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient(birthDate="1990-01-15")).json()["id"]
    # an object body is a merge whatever the content type says (the TS SDK sends json-patch+json)
    r = c.patch(
        f"/v1/fhir/Patient/{pid}",
        json={"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": None},
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gender"] == "female"
    assert "birthDate" not in body
    assert body["name"] == [{"family": "Smith", "given": ["John"]}]
    assert body["meta"]["versionId"] == "2"
    assert c.patch(f"/v1/fhir/Patient/{pid}", json={"resourceType": "Observation"}).status_code == 422
    assert c.patch(f"/v1/fhir/Patient/{pid}", json={"id": "x"}).status_code == 422
    assert c.patch(f"/v1/fhir/Patient/{pid}", json="gender").status_code == 422


def test_delete_then_404_and_history_keeps_versions(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    oid = c.post("/v1/fhir/Observation", json=observation()).json()["id"]
    r = c.delete(f"/v1/fhir/Observation/{oid}")
    assert r.status_code == 204
    assert r.content == b""
    assert c.get(f"/v1/fhir/Observation/{oid}").status_code == 404
    assert c.delete(f"/v1/fhir/Observation/{oid}").status_code == 404
    assert c.patch(f"/v1/fhir/Observation/{oid}", json=[]).status_code == 404
    hist = c.get(f"/v1/fhir/Observation/{oid}/_history").json()
    assert hist["type"] == "history"
    assert hist["total"] == 2
    first, second = hist["entry"]
    assert first["request"] == {"method": "DELETE", "url": f"Observation/{oid}"}
    assert "resource" not in first
    assert second["request"] == {"method": "POST", "url": "Observation"}
    assert second["resource"]["meta"]["versionId"] == "1"
    assert c.get(f"/v1/fhir/Observation/{oid}/_history/1").status_code == 200
    assert c.get(f"/v1/fhir/Observation/{oid}/_history/2").status_code == 404


def test_vread_and_history(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    v1 = c.post("/v1/fhir/Patient", json=patient()).json()
    pid = v1["id"]
    v2 = c.patch(f"/v1/fhir/Patient/{pid}", json=[{"op": "replace", "path": "/gender", "value": "female"}]).json()
    v3 = c.put(f"/v1/fhir/Patient/{pid}", json={**v2, "gender": "other"}).json()
    r = c.get(f"/v1/fhir/Patient/{pid}/_history/1")
    assert r.status_code == 200
    assert r.json() == v1
    assert r.headers["etag"] == 'W/"1"'
    assert c.get(f"/v1/fhir/Patient/{pid}/_history/2").json() == v2
    assert c.get(f"/v1/fhir/Patient/{pid}/_history/9").status_code == 404
    assert c.get(f"/v1/fhir/Patient/{pid}/_history/x").status_code == 404
    hist = c.get(f"/v1/fhir/Patient/{pid}/_history").json()
    assert [e["resource"] for e in hist["entry"]] == [v3, v2, v1]
    assert [e["request"]["method"] for e in hist["entry"]] == ["PUT", "PATCH", "POST"]
    assert [e["response"]["status"] for e in hist["entry"]] == ["200 OK", "200 OK", "201 Created"]
    since = c.get(f"/v1/fhir/Patient/{pid}/_history", params={"_since": v2["meta"]["lastUpdated"]}).json()
    assert since["total"] == 2
    assert c.get(f"/v1/fhir/Patient/{pid}/_history", params={"_at": "2020"}).status_code == 400


def test_type_history_paging(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    for _ in range(5):
        c.post("/v1/fhir/Patient", json=patient())
    page = c.get("/v1/fhir/Patient/_history", params={"_count": 2}).json()
    assert page["total"] == 5
    seen = [e["resource"]["id"] for e in page["entry"]]
    while True:
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        assert nxt[0].startswith(f"{gw.sb.public_base_url}/v1/fhir/Patient/_history?")
        page = c.get(nxt[0]).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
    assert len(seen) == len(set(seen)) == 5


def test_health_and_metadata_need_no_key(gw: Gw) -> None:
    c = gw.client()
    r = c.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert "timestamp" in r.json()
    for path in ("/v1/metadata", "/v1/fhir/metadata"):
        r = c.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/fhir+json"
        cap = r.json()
        assert cap["resourceType"] == "CapabilityStatement"
        assert cap["fhirVersion"] == "4.0.1"
        assert cap["format"] == ["json"]
        assert "x-api-key" in cap["rest"][0]["security"]["description"]
