"""The sandbox as a shared server, attacked over real HTTP (uvicorn): no request stalls the others,
every bad input is a 4xx in the envelope, the work and memory of a request are bounded, and after
each probe the server still serves with all earlier data intact."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from clinikfhir.sandbox import ManualClock, Sandbox

from .helpers import TENANT_SYSTEM, observation, patient

ENVELOPE_KEYS = {"error", "code", "message", "requestId"}


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text[:500]
    body: dict[str, Any] = r.json()
    assert set(body) >= ENVELOPE_KEYS
    assert body["code"] == code
    assert body["requestId"] == r.headers["x-request-id"]
    return body


class Tenant:
    """A fresh tenant on the served sandbox with some data, to check nothing was lost afterwards."""

    def __init__(self, sb: Sandbox, scope: str = "*") -> None:
        self.sb = sb
        self.name = f"org_{secrets.token_hex(6)}"
        self.key = sb.add_key(f"clk_test_{secrets.token_hex(16)}", self.name)
        self.c = httpx.Client(base_url=sb.base_url, headers={"x-api-key": self.key}, timeout=30)
        self.pid = self.c.post("/v1/fhir/Patient", json=patient()).json()["id"]
        for _ in range(2):
            self.c.post("/v1/fhir/Observation", json=observation(f"Patient/{self.pid}"))
        self.before = self.snapshot()

    def client(self, scope: str) -> httpx.Client:
        key = self.sb.add_key(f"clk_test_{secrets.token_hex(16)}", self.name, scope)  # type: ignore[arg-type]
        return httpx.Client(base_url=self.sb.base_url, headers={"x-api-key": key}, timeout=30)

    def snapshot(self) -> tuple[int, int, int, dict[str, Any]]:
        patients = self.c.get("/v1/fhir/Patient").json()["total"]
        observations = self.c.get("/v1/fhir/Observation").json()["total"]
        history = self.c.get(f"/v1/fhir/Patient/{self.pid}/_history").json()["total"]
        return patients, observations, history, self.c.get(f"/v1/fhir/Patient/{self.pid}").json()

    def intact(self) -> None:
        """The server still answers, and every earlier resource and version is as it was."""
        assert httpx.get(f"{self.sb.base_url}/health").status_code == 200
        assert self.snapshot() == self.before


@pytest.fixture
def tenant(served_sandbox: Sandbox) -> Iterator[Tenant]:
    t = Tenant(served_sandbox)
    try:
        yield t
        t.intact()
    finally:
        t.c.close()


# ---------------------------------------------------------------- one request must not stall everyone


def test_a_stuck_write_does_not_stall_health_or_other_tenants_reads(tmp_path: Path) -> None:
    with Sandbox.serve(port=0, db=tmp_path / "shared.db") as sb:
        key_a = sb.create_key("org_slow")
        b = httpx.Client(base_url=sb.base_url, headers={"x-api-key": sb.create_key("org_fast")}, timeout=30)
        pid = b.post("/v1/fhir/Patient", json=patient()).json()["id"]
        results: list[int] = []
        lock = threading.Lock()

        def create() -> None:
            with httpx.Client(base_url=sb.base_url, headers={"x-api-key": key_a}, timeout=60) as a:
                status = a.post("/v1/fhir/Patient", json=patient()).status_code
            with lock:
                results.append(status)

        # the writer is busy: tenant A's creates (more than there are workers) wait for it
        with sb.store.write():
            slow = [threading.Thread(target=create) for _ in range(10)]
            for t in slow:
                t.start()
            with httpx.Client(base_url=sb.base_url, timeout=10) as anyone:
                assert anyone.get("/health").status_code == 200  # the event loop is free
            assert b.get(f"/v1/fhir/Patient/{pid}").status_code == 200  # other tenants still get a worker
            assert b.get("/v1/fhir/Patient").json()["total"] == 1
            assert not results  # the writes are still waiting
        for t in slow:
            t.join(timeout=60)
        assert results == [201] * 10
        assert b.get("/v1/fhir/Patient").json()["total"] == 1
        with sb.client(key_a) as a:
            assert a.get("/v1/fhir/Patient").json()["total"] == 10
        assert sb.internal_errors == []


# ---------------------------------------------------------------- JSON Patch amplification


def _doubling_patch(n: int) -> list[dict[str, str]]:
    return [{"op": "copy", "from": "/extension/0", "path": "/extension/0/extension/-"} for _ in range(n)]


def test_a_doubling_json_patch_stops_at_the_resource_cap(tenant: Tenant) -> None:
    ext = {"url": "http://example.org/x", "extension": [{"url": "leaf", "valueString": "x" * 1000}]}
    pid = tenant.c.post("/v1/fhir/Patient", json=patient(extension=[ext])).json()["id"]
    tenant.before = tenant.snapshot()
    body = _doubling_patch(18)
    assert len(orjson.dumps(body)) < 2000
    r = tenant.c.patch(f"/v1/fhir/Patient/{pid}", json=body)
    issue = _error(r, 413, "PAYLOAD_TOO_LARGE")["issue"][0]
    assert issue["expression"] == ["Patient"]
    hist = tenant.c.get(f"/v1/fhir/Patient/{pid}/_history").json()
    assert hist["total"] == 1  # nothing was stored
    assert tenant.c.get(f"/v1/fhir/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_a_json_patch_with_too_many_operations_is_refused(tenant: Tenant) -> None:
    ops = [{"op": "test", "path": "/gender", "value": "male"}] * 257
    _error(tenant.c.patch(f"/v1/fhir/Patient/{tenant.pid}", json=ops), 422, "VALIDATION_ERROR")


def test_a_transaction_patch_entry_is_bounded_too(tenant: Tenant) -> None:
    ext = {"url": "http://example.org/x", "extension": [{"url": "leaf", "valueString": "x" * 1000}]}
    pid = tenant.c.post("/v1/fhir/Patient", json=patient(extension=[ext])).json()["id"]
    tenant.before = tenant.snapshot()
    data = base64.b64encode(orjson.dumps(_doubling_patch(18))).decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "Patient"}, "resource": patient()},
            {
                "request": {"method": "PATCH", "url": f"Patient/{pid}"},
                "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
            },
        ],
    }
    _error(tenant.c.post("/v1/fhir", json=bundle), 413, "PAYLOAD_TOO_LARGE")
    assert tenant.c.get(f"/v1/fhir/Patient/{pid}/_history").json()["total"] == 1


# ---------------------------------------------------------------- bad inputs are 4xx naming where


def _raw_post(tenant: Tenant, path: str, raw: bytes) -> httpx.Response:
    return tenant.c.post(path, content=raw, headers={"content-type": "application/fhir+json"})


def test_json_nested_too_deep_is_a_400_naming_where(tenant: Tenant) -> None:
    deep = "[" * 250 + "]" * 250
    raw = b'{"resourceType":"Patient","extension":[{"url":"http://e","valueString":"a"}],"x":' + deep.encode() + b"}"
    assert len(raw) < 5000
    body = _error(_raw_post(tenant, "/v1/fhir/Patient", raw), 400, "INVALID_JSON")
    assert "deeper than 100" in body["message"]
    assert body["issue"][0]["expression"][0].startswith("Patient.x[0][0]")
    # a patch that would nest deeper than the bound is refused the same way
    ops = [{"op": "add", "path": "/extension/0/x", "value": orjson.loads(deep[:200] + deep[-200:])}]
    _error(tenant.c.patch(f"/v1/fhir/Patient/{tenant.pid}", json=ops), 400, "INVALID_JSON")


def test_a_lone_surrogate_is_a_400_naming_where(tenant: Tenant) -> None:
    raw = b'{"resourceType":"Patient","name":[{"family":"\\ud800"}]}'
    body = _error(_raw_post(tenant, "/v1/fhir/Patient", raw), 400, "INVALID_JSON")
    assert body["issue"][0]["expression"] == ["Patient.name[0].family"]
    assert "ud800" not in r_text(body)


def test_a_decimal_out_of_range_is_a_400_naming_where(tenant: Tenant) -> None:
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        b'"valueQuantity":{"value":1e999999,"unit":"kg"}}'
    )
    body = _error(_raw_post(tenant, "/v1/fhir/Observation", raw), 400, "INVALID_JSON")
    assert body["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
    assert "999999" not in r_text(body)
    tiny = raw.replace(b"1e999999", b"1e-999999")
    _error(_raw_post(tenant, "/v1/fhir/Observation", tiny), 400, "INVALID_JSON")
    fine = raw.replace(b"1e999999", b"1.5e300")
    assert _raw_post(tenant, "/v1/fhir/Observation", fine).status_code == 201
    tenant.before = tenant.snapshot()


def r_text(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()


# ---------------------------------------------------------------- idempotency: bounded, writes only


def test_post_search_is_not_cached_by_idempotency_key(tenant: Tenant) -> None:
    h = {"Idempotency-Key": "search-1"}
    first = tenant.c.post("/v1/fhir/Patient/_search", data={"gender": "male"}, headers=h)
    assert first.status_code == 200
    assert first.json()["total"] == 1
    other = tenant.c.post("/v1/fhir/Patient/_search", data={"gender": "female"}, headers=h)
    assert other.status_code == 200  # not 409: a read is never replayed
    assert "idempotent-replayed" not in other.headers
    assert other.json()["total"] == 0


def test_the_idempotency_cache_keeps_to_its_byte_budget() -> None:
    budget = 64 * 1024
    with Sandbox.serve(port=0, idempotency_bytes=budget) as sb, sb.client(sb.create_key("org_idem")) as c:
        big = patient(extension=[{"url": "http://e", "valueString": "x" * 5000}])
        for i in range(40):
            r = c.post("/v1/fhir/Patient", json=big, headers={"Idempotency-Key": f"k{i}"})
            assert r.status_code == 201
            assert sb.gateway.idempotency.bytes_used <= budget
        again = c.post("/v1/fhir/Patient", json=big, headers={"Idempotency-Key": "k39"})
        assert again.headers["idempotent-replayed"] == "true"  # the newest are kept
        assert c.get("/v1/fhir/Patient").json()["total"] == 40


# ---------------------------------------------------------------- scopes: reading is reading


def test_reads_sent_as_post_need_the_read_scope(tenant: Tenant) -> None:
    with tenant.client("write") as writer, tenant.client("read") as reader:
        _error(writer.post("/v1/fhir/Patient/_search", data={"gender": "male"}), 403, "FORBIDDEN")
        _error(writer.post(f"/v1/fhir/Patient/{tenant.pid}/$everything"), 403, "FORBIDDEN")
        _error(writer.post("/v1/fhir/Patient/$everything"), 403, "FORBIDDEN")
        _error(writer.get("/v1/fhir/Patient"), 403, "FORBIDDEN")
        assert reader.post("/v1/fhir/Patient/_search", data={"gender": "male"}).json()["total"] == 1
        assert reader.post(f"/v1/fhir/Patient/{tenant.pid}/$everything").status_code == 200
        _error(reader.post("/v1/fhir/Patient", json=patient()), 403, "FORBIDDEN")
        assert writer.post("/v1/fhir/Patient", json=patient()).status_code == 201
    tenant.before = tenant.snapshot()


# ---------------------------------------------------------------- one tenant rule for both patches


@pytest.mark.parametrize("merge", [{"meta": None}, {"meta": {"tag": []}}, {"meta": {"tag": [{"code": "x"}]}}])
def test_a_merge_patch_dropping_the_tenant_tag_is_refused_like_json_patch(
    tenant: Tenant, merge: dict[str, Any]
) -> None:
    url = f"/v1/fhir/Patient/{tenant.pid}"
    json_patch = [{"op": "remove", "path": "/meta/tag"}]
    _error(tenant.c.patch(url, json=json_patch), 403, "TENANT_CONFLICT")
    _error(tenant.c.patch(url, json=merge), 403, "TENANT_CONFLICT")
    tags = tenant.c.get(url).json()["meta"]["tag"]
    assert {"system": TENANT_SYSTEM, "code": tenant.name} in tags


def test_a_merge_patch_keeping_the_tenant_tag_is_fine(tenant: Tenant) -> None:
    url = f"/v1/fhir/Patient/{tenant.pid}"
    own = {"system": TENANT_SYSTEM, "code": tenant.name}
    r = tenant.c.patch(url, json={"meta": {"tag": [own, {"system": "http://e", "code": "y"}]}})
    assert r.status_code == 200, r.text
    assert own in r.json()["meta"]["tag"]
    tenant.before = tenant.snapshot()


# ---------------------------------------------------------------- links never reflect the Host header


def test_links_and_full_urls_ignore_the_host_header(tenant: Tenant) -> None:
    base = tenant.sb.base_url
    evil = {"Host": "evil.example"}
    bundle = tenant.c.get("/v1/fhir/Observation", params={"_count": 1}, headers=evil).json()
    urls = [link["url"] for link in bundle["link"]] + [e["fullUrl"] for e in bundle["entry"]]
    assert urls
    assert all(u.startswith(f"{base}/v1/fhir/") for u in urls), urls
    assert "evil" not in r_text(bundle)
    nxt = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    assert httpx.get(nxt, headers={"x-api-key": tenant.key}).json()["entry"]  # followable as given
    hist = tenant.c.get(f"/v1/fhir/Patient/{tenant.pid}/_history", headers=evil).json()
    assert all(e["fullUrl"].startswith(f"{base}/v1/fhir/Patient/") for e in hist["entry"])


def test_a_configured_public_base_url_is_used_for_every_link() -> None:
    with Sandbox.serve(port=0, public_base_url="https://fhir.example.org:8443/") as sb:
        assert sb.public_base_url == "https://fhir.example.org:8443"
        c = sb.client(sb.create_key("org_pub"))
        for _ in range(3):
            c.post("/v1/fhir/Patient", json=patient())
        bundle = c.get("/v1/fhir/Patient", params={"_count": 2}).json()
        urls = [link["url"] for link in bundle["link"]] + [e["fullUrl"] for e in bundle["entry"]]
        assert all(u.startswith("https://fhir.example.org:8443/v1/fhir/Patient") for u in urls), urls
        tx = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": patient()}],
        }
        out = c.post("/v1/fhir", json=tx).json()
        assert out["entry"][0]["fullUrl"].startswith("https://fhir.example.org:8443/v1/fhir/Patient/")
    with pytest.raises(ValueError, match="origin"):
        Sandbox(public_base_url="ftp://x")


# ---------------------------------------------------------------- fault admin


@pytest.mark.parametrize("latency", ["1e309", "nan", "-1", 601, "inf", "x"])
def test_the_fault_admin_refuses_a_bad_latency(served_sandbox: Sandbox, tenant: Tenant, latency: object) -> None:
    r = httpx.post(f"{served_sandbox.base_url}/_sandbox/faults", json={"latency": latency})
    _error(r, 400, "INVALID_PARAMETER")
    assert served_sandbox.faults.pending()["latency"] == 0


def test_drop_after_commit_works_on_a_204(tenant: Tenant) -> None:
    oid = tenant.c.post("/v1/fhir/Observation", json=observation(f"Patient/{tenant.pid}")).json()["id"]
    r = httpx.post(f"{tenant.sb.base_url}/_sandbox/faults", json={"drop_after_commit": 1})
    assert r.status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        tenant.c.delete(f"/v1/fhir/Observation/{oid}")
    assert tenant.c.get(f"/v1/fhir/Observation/{oid}").status_code == 404  # committed, answer lost
    assert tenant.sb.faults.pending()["drop_after_commit"] == 0


# ---------------------------------------------------------------- the per-request time budget


class TickingClock(ManualClock):
    """Once armed, every reading of the monotonic clock moves it one second on (work takes time)."""

    armed = False

    def monotonic(self) -> float:
        if self.armed:
            self.advance(1.0)
        return self.time()


def test_a_request_over_its_time_budget_is_stopped_and_writes_nothing() -> None:
    clock = TickingClock()
    with Sandbox.serve(port=0, clock=clock, request_budget=30) as sb, sb.client(sb.create_key("org_budget")) as c:
        pid = c.post("/v1/fhir/Patient", json=patient()).json()["id"]
        entries = [
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(f"Patient/{pid}")}
            for _ in range(60)
        ]
        tx = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        clock.armed = True
        r = c.post("/v1/fhir", json=tx)
        body = _error(r, 504, "UPSTREAM_TIMEOUT")
        assert body["issue"][0]["code"] == "too-costly"
        clock.armed = False
        assert c.get("/v1/fhir/Observation").json()["total"] == 0  # rolled back whole
        assert c.get(f"/v1/fhir/Patient/{pid}").status_code == 200
        assert c.post("/v1/fhir", json=tx).status_code == 200  # within budget it runs
        assert c.get("/v1/fhir/Observation").json()["total"] == 60
        assert sb.internal_errors == []
