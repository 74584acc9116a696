"""Bounded work per search, over real HTTP (the session's uvicorn sandbox): requests that used to run
for seconds and end in a 500 (1,990 ``_sort`` keys, 5,000 OR values, numbers beyond any float) are
a 400 in the envelope naming the parameter, and the server keeps serving with its data intact."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinikfhir.sandbox import Sandbox


@pytest.fixture
def c(served_sandbox: Sandbox, api_key: str) -> httpx.Client:
    client = httpx.Client(base_url=served_sandbox.base_url, headers={"x-api-key": api_key}, timeout=60)
    for i in range(3):
        r = client.post(
            "/v1/fhir/Observation",
            json={
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "valueQuantity": {"value": 60 + i, "unit": "/min"},
            },
        )
        assert r.status_code == 201
    return client


def _search(c: httpx.Client, rtype: str, form: dict[str, str]) -> httpx.Response:
    return c.post(f"/v1/fhir/{rtype}/_search", data=form)


def _assert_400(r: httpx.Response, names: str) -> dict[str, Any]:
    assert r.status_code == 400, r.text[:300]
    body: dict[str, Any] = r.json()
    assert body["code"] == "INVALID_PARAMETER"
    assert names in body["message"]
    return body


def _still_serving(c: httpx.Client) -> None:
    r = c.get("/v1/fhir/Observation", params={"_sort": "-value-quantity"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3
    assert [e["resource"]["valueQuantity"]["value"] for e in body["entry"]] == [62, 61, 60]


def test_too_many_sort_keys_is_a_400(c: httpx.Client) -> None:
    keys = ",".join(["date", "-value-quantity", "code", "_lastUpdated", "-_id"] * 398)  # 1,990 keys
    _assert_400(_search(c, "Observation", {"_sort": keys}), "_sort")
    sixteen = ",".join(["-value-quantity", "code"] * 8)
    assert _search(c, "Observation", {"_sort": sixteen}).status_code == 200
    _still_serving(c)


def test_five_thousand_or_values_on_last_updated_is_a_400(c: httpx.Client) -> None:
    values = ",".join(f"ge2024-01-{1 + i % 28:02d}T00:00:{i % 60:02d}Z" for i in range(5000))
    _assert_400(_search(c, "Observation", {"_lastUpdated": values}), "_lastUpdated")
    _assert_400(_search(c, "Observation", {"code": ",".join(f"c{i}" for i in range(5000))}), "code")
    _still_serving(c)


def test_or_values_over_all_parameters_are_bounded(c: httpx.Client) -> None:
    form = {"_lastUpdated": ",".join(["ne2020"] * 500), "code": ",".join(["x"] * 500)}
    assert _search(c, "Observation", form).status_code == 200  # within both bounds
    many = [("_lastUpdated", ",".join(["ge2020"] * 500)) for _ in range(3)]
    form_body = str(httpx.QueryParams(many))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = c.post("/v1/fhir/Observation/_search", content=form_body, headers=headers)
    _assert_400(r, "values in one search")
    _still_serving(c)


@pytest.mark.parametrize(
    ("rtype", "name", "value"),
    [
        ("Observation", "value-quantity", "1e999999999"),
        ("Observation", "value-quantity", "gt1E+1000000|http://unitsofmeasure.org|/min"),
        ("RiskAssessment", "probability", "1E+1000000"),
        ("RiskAssessment", "probability", "1e-999999"),
        ("Location", "near", "1e999999|2|3"),
    ],
)
def test_numbers_beyond_any_float_are_a_400_naming_the_parameter(
    c: httpx.Client, rtype: str, name: str, value: str
) -> None:
    body = _assert_400(c.get(f"/v1/fhir/{rtype}", params={name: value}), f"'{name}'")
    assert value not in body["message"]
    _still_serving(c)
