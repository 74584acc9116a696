"""Gateway rules: keys, scopes, environments, envelope, headers, limits, idempotency, fault injection."""

from __future__ import annotations

import re
import secrets
import socket

import httpx
import pytest

from clinikfhir.sandbox import ManualClock, Sandbox

from .conftest import Gw
from .helpers import observation, patient

ENVELOPE_KEYS = {"error", "code", "message", "requestId"}


def _error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= ENVELOPE_KEYS
    assert body["code"] == code
    assert body["requestId"] == r.headers["x-request-id"]
    assert "data" not in body
    return body


def test_missing_and_malformed_keys(gw: Gw) -> None:
    c = gw.client()
    _error(c.get("/v1/fhir/Patient"), 401, "UNAUTHORIZED")
    for bad in ["abc", "clk_prod_abc", "clk_test_", "clk_test_ab-c", "Bearer clk_test_abc", "clk_live_abc def"]:
        body = _error(c.get("/v1/fhir/Patient", headers={"x-api-key": bad}), 401, "INVALID_KEY_FORMAT")
        assert bad not in str(body["message"]) or bad == "clk_test_"
    _error(c.get("/v1/fhir/Patient", headers={"x-api-key": "clk_test_unknown0000"}), 401, "INVALID_KEY")
    # the key is accepted only as the x-api-key header
    key = gw.key()
    _error(c.get("/v1/fhir/Patient", headers={"Authorization": f"Bearer {key}"}), 401, "UNAUTHORIZED")
    _error(c.get("/v1/fhir/Patient", params={"x-api-key": key}), 401, "UNAUTHORIZED")


def test_revoked_and_expired_keys(gw: Gw) -> None:
    key = gw.key()
    c = gw.client(key)
    assert c.get("/v1/fhir/Patient").status_code == 200
    gw.sb.revoke_key(key)
    body = _error(c.get("/v1/fhir/Patient"), 401, "KEY_REVOKED")
    assert key not in str(body)
    key2 = gw.sb.add_key(f"clk_test_exp{secrets.token_hex(6)}", "org_exp", expires_in=60)
    c2 = gw.client(key2)
    assert c2.get("/v1/fhir/Patient").status_code == 200
    gw.sb.expire_key(key2)
    _error(c2.get("/v1/fhir/Patient"), 401, "KEY_EXPIRED")


def test_revocation_lag_emulates_the_key_cache() -> None:
    clock = ManualClock()
    with Sandbox(revocation_lag=60, clock=clock) as sb:
        key = sb.create_key("org_lag")
        c = sb.client(key)
        sb.revoke_key(key)
        assert c.get("/v1/fhir/Patient").status_code == 200  # still cached
        clock.advance(59.9)
        assert c.get("/v1/fhir/Patient").status_code == 200
        clock.advance(0.1)
        _error(c.get("/v1/fhir/Patient"), 401, "KEY_REVOKED")


def test_key_expiry_follows_the_clock() -> None:
    clock = ManualClock()
    with Sandbox(clock=clock) as sb:
        c = sb.client(sb.create_key("org_exp", expires_in=30))
        assert c.get("/v1/fhir/Patient").status_code == 200
        clock.advance(29.5)
        assert c.get("/v1/fhir/Patient").status_code == 200
        clock.advance(0.5)
        _error(c.get("/v1/fhir/Patient"), 401, "KEY_EXPIRED")


def test_scopes(gw: Gw) -> None:
    tenant = f"org_scope{secrets.token_hex(6)}"
    full = gw.client(gw.key(tenant, "*"))
    reader = gw.client(gw.key(tenant, "read"))
    writer = gw.client(gw.key(tenant, "write"))
    pid = writer.post("/v1/fhir/Patient", json=patient()).json()["id"]
    assert reader.get(f"/v1/fhir/Patient/{pid}").status_code == 200
    _error(writer.get(f"/v1/fhir/Patient/{pid}"), 403, "FORBIDDEN")
    _error(reader.post("/v1/fhir/Patient", json=patient()), 403, "FORBIDDEN")
    _error(reader.patch(f"/v1/fhir/Patient/{pid}", json=[]), 403, "FORBIDDEN")
    _error(reader.delete(f"/v1/fhir/Patient/{pid}"), 403, "FORBIDDEN")
    _error(reader.post("/v1/fhir/Patient/$validate", json=patient()), 403, "FORBIDDEN")
    assert writer.patch(f"/v1/fhir/Patient/{pid}", json={"gender": "female"}).status_code == 200
    assert full.get(f"/v1/fhir/Patient/{pid}").json()["gender"] == "female"
    assert writer.delete(f"/v1/fhir/Patient/{pid}").status_code == 204


def test_test_and_live_data_are_invisible_to_each_other(gw: Gw) -> None:
    tenant = f"org_env{secrets.token_hex(6)}"
    test = gw.client(gw.key(tenant, env="test"))
    live = gw.client(gw.key(tenant, env="live"))
    pid = test.post("/v1/fhir/Patient", json=patient()).json()["id"]
    _error(live.get(f"/v1/fhir/Patient/{pid}"), 404, "NOT_FOUND")
    assert live.get("/v1/fhir/Patient").json()["total"] == 0
    assert live.get("/v1/fhir/Patient/_history").json()["total"] == 0
    _error(live.delete(f"/v1/fhir/Patient/{pid}"), 404, "NOT_FOUND")
    lid = live.post("/v1/fhir/Patient", json=patient()).json()["id"]
    _error(test.get(f"/v1/fhir/Patient/{lid}"), 404, "NOT_FOUND")
    assert test.get("/v1/fhir/Patient").json()["total"] == 1


def test_response_headers_on_success_and_error(gw: Gw) -> None:
    c = gw.client(gw.key())
    for r in [c.get("/v1/fhir/Patient"), c.get("/v1/fhir/Patient/nope"), gw.client().get("/v1/fhir/Patient")]:
        assert re.fullmatch(r"req_[a-z0-9]{8,12}", r.headers["x-request-id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r.headers["x-timestamp"])
    a = c.get("/v1/fhir/Patient", headers={"x-request-id": "req_mine"})
    assert a.headers["x-request-id"] != "req_mine"
    # Accept: XML is not refused with 406; the answer is JSON regardless
    r = c.get("/v1/fhir/Patient", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 200
    assert r.json()["resourceType"] == "Bundle"


def test_method_override_headers_are_rejected(gw: Gw) -> None:
    c = gw.client(gw.key())
    for name in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        _error(c.post("/v1/fhir/Patient", json=patient(), headers={name: "DELETE"}), 400, "METHOD_OVERRIDE_REJECTED")
    assert c.get("/v1/fhir/Patient").json()["total"] == 0


def test_body_over_one_mib_is_413(gw: Gw) -> None:
    c = gw.client(gw.key())
    big = patient(text={"status": "generated", "div": "<div>" + "x" * (1024 * 1024) + "</div>"})
    _error(c.post("/v1/fhir/Patient", json=big), 413, "PAYLOAD_TOO_LARGE")
    ok = patient(
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * 900_000 + "</div>"}
    )
    assert c.post("/v1/fhir/Patient", json=ok).status_code == 201


def test_xml_is_415(gw: Gw) -> None:
    c = gw.client(gw.key())
    r = c.post("/v1/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    _error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    _error(c.get("/v1/fhir/Patient", params={"_format": "xml"}), 415, "UNSUPPORTED_MEDIA_TYPE")
    r = c.post("/v1/fhir/Patient", content=b'{"resourceType":"Patient"}', headers={"Content-Type": "text/plain"})
    _error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    for ctype in ("application/json", "application/fhir+json; charset=utf-8", "application/json-patch+json"):
        assert c.post("/v1/fhir/Patient", json=patient(), headers={"Content-Type": ctype}).status_code == 201


def test_dot_only_ids_are_400_and_ids_follow_the_sdk_rule(gw: Gw) -> None:
    c = gw.client(gw.key())
    for path in ("/v1/fhir/Patient/%2E", "/v1/fhir/Patient/%2E%2E", "/v1/fhir/Patient/%2e%2e/_history"):
        _error(c.get(path), 400, "INVALID_PARAMETER")
    _error(c.get("/v1/fhir/Patient/" + "a" * 129), 400, "INVALID_PARAMETER")
    _error(c.get("/v1/fhir/Patient/a%20b"), 400, "INVALID_PARAMETER")
    _error(c.get("/v1/fhir/Patient/under_score.and-dash"), 404, "NOT_FOUND")


def test_dot_segments_are_never_resolved_over_raw_http(served_sandbox: Sandbox) -> None:
    key = served_sandbox.create_key("org_raw")
    host, port = served_sandbox.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"GET /v1/fhir/Patient/.. HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")
    assert b"INVALID_PARAMETER" in data


def test_unsupported_shapes(gw: Gw) -> None:
    c = gw.client(gw.key())
    _error(c.get("/v1/fhir", params={"name": "x"}), 400, "INVALID_PARAMETER")
    _error(c.patch("/v1/fhir/Patient", json=[]), 405, "METHOD_NOT_ALLOWED")
    _error(c.post("/v1/fhir/Patient/abc", json=patient()), 405, "METHOD_NOT_ALLOWED")
    _error(c.delete("/v1/fhir/Patient"), 405, "METHOD_NOT_ALLOWED")
    _error(c.get("/v1/fhir/Patient/abc/extra/segments"), 404, "NOT_FOUND")
    _error(c.get("/v1/patients/abc"), 404, "NOT_FOUND")
    _error(gw.client().get("/nothing"), 404, "NOT_FOUND")
    for method in ("HEAD", "OPTIONS", "TRACE"):
        r = c.request(method, "/v1/fhir/Patient")
        assert r.status_code == 405
        if method != "HEAD":
            assert r.json()["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("mode", ["http", "inproc"])
def test_rate_limit_per_organisation(mode: str) -> None:
    with Sandbox(rate_limit=3, rate_window=60.0) as sb:
        if mode == "http":
            sb.start()
        ka, kb = sb.create_key("org_rl"), sb.create_key("org_rl", env="live")
        other = sb.create_key("org_free")
        a, b, o = sb.client(ka), sb.client(kb), sb.client(other)
        r1 = a.get("/v1/fhir/Patient")
        assert r1.headers["x-ratelimit-limit"] == "3"
        assert r1.headers["x-ratelimit-remaining"] == "2"
        assert 1 <= int(r1.headers["x-ratelimit-reset"]) <= 60
        assert b.get("/v1/fhir/Patient").headers["x-ratelimit-remaining"] == "1"  # shared by all keys, test+live
        assert a.get("/v1/fhir/Patient").headers["x-ratelimit-remaining"] == "0"
        r = b.get("/v1/fhir/Patient")
        body = _error(r, 429, "RATE_LIMITED")
        assert body["error"] == "Too Many Requests"
        assert r.headers["retry-after"].isdigit()
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert o.get("/v1/fhir/Patient").status_code == 200  # other organisations are unaffected
        # unauthenticated requests do not count
        assert sb.client().get("/health").status_code == 200


def test_rate_limit_window_rolls() -> None:
    clock = ManualClock()
    with Sandbox(rate_limit=2, rate_window=60, clock=clock) as sb:
        c = sb.client(sb.create_key("org_roll"))
        assert c.get("/v1/fhir/Patient").status_code == 200
        clock.advance(30)
        assert c.get("/v1/fhir/Patient").status_code == 200
        r = c.get("/v1/fhir/Patient")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "30"  # the first hit leaves the window in 30 s
        clock.advance(30)
        assert c.get("/v1/fhir/Patient").status_code == 200
        assert c.get("/v1/fhir/Patient").status_code == 429


def test_no_rate_limit_by_default(gw: Gw) -> None:
    c = gw.client(gw.key())
    r = c.get("/v1/fhir/Patient")
    assert "x-ratelimit-limit" not in r.headers
    for _ in range(30):
        assert c.get("/v1/fhir/Patient").status_code == 200


def test_idempotency_key_replays_first_response(gw: Gw) -> None:
    c = gw.client(gw.key())
    h = {"Idempotency-Key": "create-1"}
    first = c.post("/v1/fhir/Patient", json=patient(), headers=h)
    assert first.status_code == 201
    again = c.post("/v1/fhir/Patient", json=patient(), headers=h)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert c.get("/v1/fhir/Patient").json()["total"] == 1
    _error(c.post("/v1/fhir/Patient", json=patient(gender="female"), headers=h), 409, "IDEMPOTENCY_KEY_REUSED")
    # without the header: no deduplication
    c.post("/v1/fhir/Patient", json=patient())
    c.post("/v1/fhir/Patient", json=patient())
    assert c.get("/v1/fhir/Patient").json()["total"] == 3


def test_idempotency_key_replays_a_client_error_too(gw: Gw) -> None:
    c = gw.client(gw.key())
    h = {"Idempotency-Key": "bad-1"}
    bad = {"resourceType": "Patient", "gender": "nope"}
    first = c.post("/v1/fhir/Patient", json=bad, headers=h)
    assert first.status_code == 422
    again = c.post("/v1/fhir/Patient", json=bad, headers=h)
    assert again.status_code == 422
    assert again.content == first.content
    assert again.json()["requestId"] == first.headers["x-request-id"]


def test_idempotency_key_is_scoped_per_tenant_and_path(gw: Gw) -> None:
    a, b = gw.client(gw.key()), gw.client(gw.key())
    h = {"Idempotency-Key": "same"}
    pa = a.post("/v1/fhir/Patient", json=patient(), headers=h).json()
    pb = b.post("/v1/fhir/Patient", json=patient(), headers=h).json()
    assert pa["id"] != pb["id"]
    assert a.post("/v1/fhir/Observation", json=observation(), headers=h).status_code == 201
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    r1 = a.patch(f"/v1/fhir/Patient/{pa['id']}", json=ops, headers={"Idempotency-Key": "p1"})
    r2 = a.patch(f"/v1/fhir/Patient/{pa['id']}", json=ops, headers={"Idempotency-Key": "p1"})
    assert r1.json()["meta"]["versionId"] == r2.json()["meta"]["versionId"] == "2"


def test_fail_next_then_recover(gw: Gw) -> None:
    c = gw.client(gw.key())
    gw.sb.faults.fail_next(2, status=503, retry_after=2)
    r = c.get("/v1/fhir/Patient")
    _error(r, 503, "SERVICE_UNAVAILABLE")
    assert r.headers["retry-after"] == "2"
    r = c.post("/v1/fhir/Patient", json=patient())
    _error(r, 503, "SERVICE_UNAVAILABLE")
    assert c.get("/v1/fhir/Patient").json()["total"] == 0  # the failed POST wrote nothing
    gw.sb.faults.fail_next(1, status=429, retry_after=1)
    r = c.get("/v1/fhir/Patient")
    _error(r, 429, "RATE_LIMITED")
    assert r.headers["retry-after"] == "1"
    assert c.get("/v1/fhir/Patient").status_code == 200


def test_latency_in_process_passes_on_the_clock_and_honours_the_timeout() -> None:
    clock = ManualClock()
    with Sandbox(clock=clock) as sb:
        c = sb.client(sb.create_key("org_slow"), timeout=5.0)
        sb.faults.latency(0.2)
        before = clock.time()
        assert c.get("/v1/fhir/Patient").status_code == 200
        assert clock.time() - before == pytest.approx(0.2)
        sb.faults.latency(30)
        before = clock.time()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/fhir/Patient", json=patient())
        assert clock.time() - before == pytest.approx(5.0)  # waited the read timeout, not the latency
        sb.faults.latency(0)
        assert c.get("/v1/fhir/Patient").json()["total"] == 1  # the timed-out create was committed


async def test_latency_in_process_async_honours_the_timeout() -> None:
    clock = ManualClock()
    with Sandbox(clock=clock) as sb:
        key = sb.create_key("org_slow")
        headers = {"x-api-key": key}
        async with httpx.AsyncClient(
            base_url=sb.base_url, transport=sb.async_transport(), headers=headers, timeout=2.0
        ) as c:
            sb.faults.latency(10)
            before = clock.time()
            with pytest.raises(httpx.ReadTimeout):
                await c.get("/v1/fhir/Patient")
            assert clock.time() - before == pytest.approx(2.0)


def test_latency_over_http_times_the_client_out(served_sandbox: Sandbox) -> None:
    key = served_sandbox.create_key("org_slow_http")
    served_sandbox.faults.latency(600)  # far beyond the client's timeout: no race
    try:
        with (
            httpx.Client(base_url=served_sandbox.base_url, headers={"x-api-key": key}, timeout=0.2) as c,
            pytest.raises(httpx.ReadTimeout),
        ):
            c.get("/v1/fhir/Patient")
    finally:
        served_sandbox.faults.latency(0)
    with httpx.Client(base_url=served_sandbox.base_url, headers={"x-api-key": key}) as c:
        assert c.get("/v1/fhir/Patient").status_code == 200


def test_drop_after_commit_loses_response_but_keeps_write(gw: Gw) -> None:
    c = gw.client(gw.key())
    gw.sb.faults.drop_after_commit(1)
    with pytest.raises(httpx.RemoteProtocolError):
        c.post("/v1/fhir/Patient", json=patient())
    assert c.get("/v1/fhir/Patient").json()["total"] == 1  # committed: a naive retry duplicates
    c.post("/v1/fhir/Patient", json=patient())
    assert c.get("/v1/fhir/Patient").json()["total"] == 2


def test_drop_after_commit_with_idempotency_key_makes_retry_safe(gw: Gw) -> None:
    c = gw.client(gw.key())
    gw.sb.faults.drop_after_commit(1)
    h = {"Idempotency-Key": "retry-me"}
    with pytest.raises(httpx.RemoteProtocolError):
        c.post("/v1/fhir/Patient", json=patient(), headers=h)
    r = c.post("/v1/fhir/Patient", json=patient(), headers=h)
    assert r.status_code == 201
    assert r.headers["idempotent-replayed"] == "true"
    assert c.get("/v1/fhir/Patient").json()["total"] == 1


def test_admin_fault_route_is_loopback_only() -> None:
    with Sandbox.serve(port=0) as sb:
        c = sb.client(sb.create_key("org_admin"))
        r = httpx.post(f"{sb.base_url}/_sandbox/faults", json={"fail_next": 1, "status": 503, "retry_after": 3})
        assert r.status_code == 200
        assert r.json()["fail_next"] == 1
        r = c.get("/v1/fhir/Patient")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "3"
        assert c.get("/v1/fhir/Patient").status_code == 200
        assert httpx.post(f"{sb.base_url}/_sandbox/faults", json={"fail_next": "x"}).status_code == 400
    # a request that does not come from loopback never reaches the admin route
    from clinikfhir.sandbox import Request

    with Sandbox() as sb:
        resp = sb.handle(Request("POST", "/_sandbox/faults", "", {}, b'{"fail_next": 5}', loopback=False))
        assert resp.status == 404
        assert sb.faults.pending()["fail_next"] == 0


def test_idempotency_cache_is_bounded_in_bytes_and_time() -> None:
    from clinikfhir.sandbox._limits import IdempotencyCache

    clock = ManualClock()
    cache = IdempotencyCache(ttl=3600, max_bytes=4000, clock=clock)
    scopes = [("test", "org", "POST", "/v1/fhir/Patient", f"k{i}") for i in range(5)]
    for scope in scopes:
        cache.put(scope, "d", 201, [], b"x" * 1000)
        assert cache.bytes_used <= 4000
    assert cache.get(scopes[0]) is None  # the oldest went first
    assert cache.get(scopes[4]) is not None
    cache.put(scopes[0], "d", 201, [], b"x" * 5000)  # larger than the whole budget: not kept
    assert cache.get(scopes[0]) is None
    assert cache.bytes_used <= 4000
    clock.advance(3599)
    assert cache.get(scopes[4]) is not None
    clock.advance(1)
    assert cache.get(scopes[4]) is None
