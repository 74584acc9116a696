"""Tenant isolation (gateway.md §7): for every route and every way in, another tenant sees nothing and
changes nothing; tenant-tag rules fail loudly with 403 TENANT_CONFLICT."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinikfhir.sandbox import Sandbox

from .conftest import Gw
from .helpers import TENANT_SYSTEM, observation, patient, tenant_tags


class Pair:
    """Tenant A owns a patient (two versions) with an observation; tenant B is the intruder."""

    def __init__(self, gw: Gw) -> None:
        self.base = gw.sb.public_base_url
        self.a, self.tenant_a = gw.tenant_client()
        self.b, self.tenant_b = gw.tenant_client()
        created = self.a.post("/v1/fhir/Patient", json=patient()).json()
        self.pid = created["id"]
        ops = [{"op": "replace", "path": "/gender", "value": "female"}]
        self.patient = self.a.patch(f"/v1/fhir/Patient/{self.pid}", json=ops).json()
        self.obs = self.a.post("/v1/fhir/Observation", json=observation(f"Patient/{self.pid}")).json()
        self.oid = self.obs["id"]

    def unchanged(self) -> None:
        assert self.a.get(f"/v1/fhir/Patient/{self.pid}").json() == self.patient
        assert self.a.get(f"/v1/fhir/Observation/{self.oid}").json() == self.obs
        assert self.a.get(f"/v1/fhir/Patient/{self.pid}/_history").json()["total"] == 2


def _is_plain_404(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    body = r.json()
    assert set(body) == {"error", "code", "message", "requestId"}
    assert body["code"] == "NOT_FOUND"
    assert body["message"] == "Resource not found"


@pytest.fixture
def pair(gw: Gw) -> Pair:
    return Pair(gw)


def test_foreign_404_is_indistinguishable_from_absent(pair: Pair) -> None:
    foreign = pair.b.get(f"/v1/fhir/Patient/{pair.pid}")
    absent = pair.b.get("/v1/fhir/Patient/does-not-exist")
    _is_plain_404(foreign)
    _is_plain_404(absent)
    strip = {"requestId"}
    assert {k: v for k, v in foreign.json().items() if k not in strip} == {
        k: v for k, v in absent.json().items() if k not in strip
    }
    assert set(foreign.headers) - {"date"} == set(absent.headers) - {"date"}


def test_read_vread_history(pair: Pair) -> None:
    _is_plain_404(pair.b.get(f"/v1/fhir/Patient/{pair.pid}"))
    _is_plain_404(pair.b.get(f"/v1/fhir/Patient/{pair.pid}/_history/1"))
    _is_plain_404(pair.b.get(f"/v1/fhir/Patient/{pair.pid}/_history"))
    assert pair.b.get("/v1/fhir/Patient/_history").json()["total"] == 0
    assert pair.b.get("/v1/fhir/Observation/_history").json()["total"] == 0


def test_search(pair: Pair) -> None:
    for params in ({}, {"_id": pair.pid}, {"_lastUpdated": "gt2000-01-01"}, {"_sort": "-_lastUpdated"}):
        bundle = pair.b.get("/v1/fhir/Patient", params=params).json()
        assert bundle["total"] == 0
        assert "entry" not in bundle
    assert pair.b.get("/v1/fhir/Observation", params={"_id": pair.oid}).json()["total"] == 0
    assert pair.a.get("/v1/fhir/Patient", params={"_id": pair.pid}).json()["total"] == 1


def test_search_includes_never_cross_tenants(pair: Pair) -> None:
    # B writes an observation pointing at A's patient; includes from B must not reveal A's patient
    pair.b.post("/v1/fhir/Observation", json=observation(f"Patient/{pair.pid}"))
    bundle = pair.b.get("/v1/fhir/Observation", params={"_include": "Observation:subject"}).json()
    types = [e["resource"]["resourceType"] for e in bundle.get("entry", [])]
    assert types == ["Observation"]
    bundle = pair.a.get("/v1/fhir/Patient", params={"_id": pair.pid, "_revinclude": "Observation:subject"}).json()
    obs_ids = {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"}
    assert obs_ids == {pair.oid}


def test_patch_put_delete(pair: Pair) -> None:
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    _is_plain_404(pair.b.patch(f"/v1/fhir/Patient/{pair.pid}", json=ops))
    _is_plain_404(pair.b.patch(f"/v1/fhir/Patient/{pair.pid}", json={"gender": "other"}))
    stolen = {**pair.patient, "gender": "other"}
    # A's copy carries A's tenant tag: refused from the body alone, exactly as for an absent id
    assert pair.b.put(f"/v1/fhir/Patient/{pair.pid}", json=stolen).json()["code"] == "TENANT_CONFLICT"
    assert pair.b.put("/v1/fhir/Patient/absent", json={**stolen, "id": "absent"}).json()["code"] == "TENANT_CONFLICT"
    stolen["meta"] = {"tag": [{"system": TENANT_SYSTEM, "code": pair.tenant_b}]}
    _is_plain_404(pair.b.put(f"/v1/fhir/Patient/{pair.pid}", json=stolen))
    _is_plain_404(pair.b.delete(f"/v1/fhir/Observation/{pair.oid}"))
    _is_plain_404(pair.b.delete(f"/v1/fhir/Patient/{pair.pid}", headers={"If-Match": 'W/"2"'}))
    pair.unchanged()


def test_conditional_operations_only_see_own_resources(pair: Pair) -> None:
    r = pair.b.put("/v1/fhir/Patient", params={"_id": pair.pid}, json=patient(gender="other"))
    assert r.status_code == 201  # no match in B's partition: a new resource of B's, with a fresh id
    assert r.json()["id"] != pair.pid
    assert pair.b.delete("/v1/fhir/Observation", params={"_id": pair.oid}).status_code == 204
    r = pair.b.post("/v1/fhir/Patient", json=patient(), headers={"If-None-Exist": f"_id={pair.pid}"})
    assert r.status_code == 201
    pair.unchanged()


def test_batch(pair: Pair) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient/{pair.pid}"}},
            {"request": {"method": "GET", "url": f"Patient/{pair.pid}/_history/1"}},
            {"request": {"method": "GET", "url": f"Patient?_id={pair.pid}"}},
            {"request": {"method": "DELETE", "url": f"Observation/{pair.oid}"}},
            {
                "request": {"method": "PUT", "url": f"Patient/{pair.pid}"},
                "resource": {**pair.patient, "gender": "other", "meta": {}},
            },
            {
                "request": {"method": "PATCH", "url": f"Patient/{pair.pid}"},
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": base64.b64encode(b'[{"op":"remove","path":"/name"}]').decode(),
                },
            },
        ],
    }
    r = pair.b.post("/v1/fhir", json=bundle)
    assert r.status_code == 200
    entries = r.json()["entry"]
    statuses = [e["response"]["status"] for e in entries]
    assert statuses == ["404 Not Found", "404 Not Found", "200 OK", "404 Not Found", "404 Not Found", "404 Not Found"]
    assert entries[2]["resource"]["total"] == 0
    assert pair.patient["name"][0]["family"] not in r.text
    pair.unchanged()


def test_transaction(pair: Pair) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
                "request": {"method": "POST", "url": "Patient"},
                "resource": patient(),
            },
            {"request": {"method": "DELETE", "url": f"Observation/{pair.oid}"}},
        ],
    }
    r = pair.b.post("/v1/fhir", json=bundle)
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
    assert pair.b.get("/v1/fhir/Patient").json()["total"] == 0  # all-or-nothing: the POST was rolled back
    pair.unchanged()


def test_paging_links_do_not_work_for_another_tenant(pair: Pair) -> None:
    for _ in range(3):
        pair.a.post("/v1/fhir/Observation", json=observation(f"Patient/{pair.pid}"))
    page = pair.a.get("/v1/fhir/Observation", params={"_count": 2}).json()
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert nxt.startswith(f"{pair.base}/v1/fhir/Observation?")  # absolute, on the public base
    assert pair.a.get(nxt).json()["entry"]
    r = pair.b.get(nxt)
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_PARAMETER"
    hist = pair.a.get("/v1/fhir/Observation/_history", params={"_count": 1}).json()
    hnext = next(link["url"] for link in hist["link"] if link["relation"] == "next")
    assert pair.b.get(hnext).status_code == 400
    # a token is bound to its query too: it cannot be moved onto another search
    token = nxt.split("_page=")[1]
    assert pair.a.get("/v1/fhir/Observation", params={"_count": 2, "_page": token, "_id": "x"}).status_code == 400


def test_everything_needs_ownership(pair: Pair) -> None:
    _is_plain_404(pair.b.get(f"/v1/fhir/Patient/{pair.pid}/$everything"))
    bundle = pair.b.get("/v1/fhir/Patient/$everything").json()
    assert bundle.get("total", 0) == 0
    mine = pair.a.get(f"/v1/fhir/Patient/{pair.pid}/$everything").json()
    assert {e["resource"]["id"] for e in mine["entry"]} == {pair.pid, pair.oid}


# ---------------------------------------------------------------- tenant tag rules (§7.5)


def test_create_injects_tag_keeps_other_systems_and_dedupes_own(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    other = {"system": "http://example.org/tags", "code": "vip"}
    own = {"system": TENANT_SYSTEM, "code": tenant}
    body = c.post("/v1/fhir/Patient", json=patient(meta={"tag": [other, own, own]})).json()
    assert body["meta"]["tag"] == [other, own]
    # a read resource round-trips through PUT unchanged in its tags
    again = c.put(f"/v1/fhir/Patient/{body['id']}", json=body).json()
    assert again["meta"]["tag"] == [other, own]


def test_create_with_foreign_tenant_tag_is_403(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    foreign = {"system": TENANT_SYSTEM, "code": "org_victim"}
    r = c.post("/v1/fhir/Patient", json=patient(meta={"tag": [foreign]}))
    assert r.status_code == 403
    body = r.json()
    assert body["code"] == "TENANT_CONFLICT"
    assert body["error"] == "Forbidden"
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] == body["issues"]
    assert "org_victim" not in r.text
    assert c.get("/v1/fhir/Patient").json()["total"] == 0


def test_put_with_foreign_tenant_tag_is_403(gw: Gw) -> None:
    c, _ = gw.tenant_client()
    body = c.post("/v1/fhir/Patient", json=patient()).json()
    body["meta"]["tag"] = [{"system": TENANT_SYSTEM, "code": "org_victim"}]
    r = c.put(f"/v1/fhir/Patient/{body['id']}", json=body)
    assert r.status_code == 403
    assert r.json()["code"] == "TENANT_CONFLICT"


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/meta/tag"}],
        [{"op": "remove", "path": "/meta/tag/0"}],
        [{"op": "replace", "path": "/meta/tag/0/code", "value": "org_victim"}],
        [{"op": "add", "path": "/meta/tag/-", "value": {"system": TENANT_SYSTEM, "code": "org_victim"}}],
        [{"op": "replace", "path": "/meta", "value": {}}],
        [{"op": "remove", "path": "/meta"}],
        [{"op": "add", "path": "/meta/tag/0/display", "value": "x"}],
    ],
)
def test_json_patch_touching_tenant_tag_is_403(gw: Gw, ops: list[dict[str, Any]]) -> None:
    c, _ = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    r = c.patch(f"/v1/fhir/Patient/{created['id']}", json=ops)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "TENANT_CONFLICT"
    assert "org_victim" not in r.text
    assert c.get(f"/v1/fhir/Patient/{created['id']}").json() == created


def test_json_patch_on_other_tags_is_fine(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    created = c.post("/v1/fhir/Patient", json=patient()).json()
    ops = [{"op": "add", "path": "/meta/tag/-", "value": {"system": "http://example.org/t", "code": "x"}}]
    r = c.patch(f"/v1/fhir/Patient/{created['id']}", json=ops)
    assert r.status_code == 200
    assert tenant_tags(r.json()) == [{"system": TENANT_SYSTEM, "code": tenant}]


def test_merge_patch_with_foreign_or_without_own_tag_is_403(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
    r = c.patch(f"/v1/fhir/Patient/{pid}", json={"meta": {"tag": [{"system": TENANT_SYSTEM, "code": "org_x"}]}})
    assert r.status_code == 403
    assert r.json()["code"] == "TENANT_CONFLICT"
    # a merge replaces the whole tag array: dropping the tenant tag is refused, as with JSON Patch
    r = c.patch(f"/v1/fhir/Patient/{pid}", json={"meta": {"tag": [{"system": "http://e.org", "code": "y"}]}})
    assert r.status_code == 403
    assert r.json()["code"] == "TENANT_CONFLICT"
    own = {"system": TENANT_SYSTEM, "code": tenant}
    r = c.patch(f"/v1/fhir/Patient/{pid}", json={"meta": {"tag": [{"system": "http://e.org", "code": "y"}, own]}})
    assert r.status_code == 200
    assert tenant_tags(r.json()) == [own]


def test_tag_search_rules(gw: Gw) -> None:
    c, tenant = gw.tenant_client()
    _victim = gw.client(gw.key("org_victim_search"))
    c.post("/v1/fhir/Patient", json=patient(meta={"tag": [{"system": "http://e.org", "code": "vip"}]}))
    ok = c.get("/v1/fhir/Patient", params={"_tag": f"{TENANT_SYSTEM}|{tenant}"})
    assert ok.status_code == 200
    assert ok.json()["total"] == 1
    assert c.get("/v1/fhir/Patient", params={"_tag": "http://e.org|vip"}).json()["total"] == 1
    forbidden = [
        {"_tag": f"{TENANT_SYSTEM}|org_victim_search"},
        {"_tag": f"http://e.org|vip,{TENANT_SYSTEM}|org_other"},
        {"_tag:not": f"{TENANT_SYSTEM}|{tenant}"},
        {"_tag": "org_victim_search"},
    ]
    for params in forbidden:
        r = c.get("/v1/fhir/Patient", params=params)
        assert r.status_code == 403, params
        assert r.json()["code"] == "TENANT_CONFLICT"
        assert "org_victim" not in r.json()["message"]
    r = c.post("/v1/fhir/Patient", json=patient(), headers={"If-None-Exist": f"_tag={TENANT_SYSTEM}|org_other"})
    assert r.status_code == 403


def test_systemless_tag_naming_a_tenant_known_only_from_stored_data(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Sandbox(db) as sb:
        sb.client(sb.create_key("org_departed")).post("/v1/fhir/Patient", json=patient())
    with Sandbox(db) as sb:  # after a restart no key of org_departed exists any more
        c = sb.client(sb.create_key("org_here"))
        r = c.get("/v1/fhir/Patient", params={"_tag": "org_departed"})
        assert r.status_code == 403
        assert r.json()["code"] == "TENANT_CONFLICT"
        assert c.get("/v1/fhir/Patient", params={"_tag": "org_nobody"}).json()["total"] == 0
