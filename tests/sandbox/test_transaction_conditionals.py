"""Conditional creates (``ifNoneExist``) inside a transaction answer as the same creates sent one by one.

A transaction looks each conditional create up once, before it writes anything, and reuses that answer
in the entry's turn unless a resource the transaction created since could match (then it asks the
engine again). The property test runs random transactions of conditional creates (plain token
criteria, which take the reuse, and others, which do not; with and without DELETEs, fullUrls and
existing matches) in one tenant, and the same entries as single requests in order in another, and
compares every status and everything stored.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clinikfhir._json import encode
from clinikfhir.sandbox import Sandbox

VALUES = ("a", "b", "c", 'q"1', "1.50")
REFUSED = "_tag=https://clinikapi.com/tenant|org_zz"  # refused by the tenant rule
CRITERIA = (
    "_security=urn:x|{t}",
    "_tag={t}",  # a system-less tag (the tenant rule reads the tenant list): asked on its own
    REFUSED,
    "identifier=urn:t|{v}&_security=urn:x|{t}&_tag=urn:x|{w}",
    "identifier=urn:t|{v}",
    "identifier={v}",
    "identifier=|{v}",
    "_tag=urn:x|{t}",
    "identifier=urn:t|{v}&_tag=urn:x|{t}",
    "identifier=urn:t|{v},urn:t|{w}",  # a list of values: asked again in its turn
    "identifier:not=urn:t|{v}",  # a modifier: asked again in its turn
    "identifier=urn:t|",  # a system only: asked again in its turn
    "_id={v}",
)


JSON = {"content-type": "application/fhir+json"}


def _spec(value: str, criteria: str | None = "identifier=urn:t|{v}", rtype: str = "Patient") -> dict[str, Any]:
    return {
        "type": rtype,
        "value": value,
        "tag": "a",
        "criteria": criteria,
        "v": value,
        "w": "a",
        "t": "a",
        "full_url": False,
    }


def _resource(rtype: str, value: str, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": rtype,
        "identifier": [{"system": "urn:t", "value": value}],
        "meta": {"tag": [{"system": "urn:x", "code": tag}], "security": [{"system": "urn:x", "code": tag}]},
    }
    if rtype == "Observation":  # a decimal kept digit for digit in the stored text (a bare number)
        out |= {"status": "final", "code": {"text": "x"}, "valueQuantity": {"value": Decimal("1.50")}}
    return out


entry_st = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Patient", "Observation"]),
        "value": st.sampled_from(VALUES),
        "tag": st.sampled_from(VALUES),
        "criteria": st.none() | st.sampled_from(CRITERIA),
        "v": st.sampled_from(VALUES),
        "w": st.sampled_from(VALUES),
        "t": st.sampled_from(VALUES),
        "full_url": st.booleans(),
    }
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb
        assert sb.internal_errors == []


def _client(sb: Sandbox) -> httpx.Client:
    key = sb.add_key(f"clk_test_{secrets.token_hex(16)}", f"org_{secrets.token_hex(6)}")
    return httpx.Client(base_url="http://localhost", headers={"x-api-key": key}, transport=sb.transport())


def _stored(c: httpx.Client) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for rtype in ("Patient", "Observation"):
        url: str | None = f"/v1/fhir/{rtype}?_count=100"
        while url is not None:  # every page (100 at most each)
            page = c.get(url).json()
            for e in page.get("entry", []):
                res = e["resource"]
                tags = [t["code"] for t in res["meta"]["tag"] if t["system"] == "urn:x"]
                out[(rtype, res["identifier"][0]["value"], ",".join(tags))] += 1
            url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seeds=st.lists(st.tuples(st.sampled_from(["Patient", "Observation"]), st.sampled_from(VALUES)), max_size=3),
    entries=st.lists(entry_st, min_size=1, max_size=8),
    delete_first_seed=st.booleans(),
)
# several plain criteria asked together: one of them matches what exists, the others nothing
@example(seeds=[("Patient", "a")], entries=[_spec("a"), _spec("b"), _spec("c")], delete_first_seed=False)
# ... and one matches what an earlier entry creates
@example(seeds=[], entries=[_spec("a", None), _spec("b"), _spec("a")], delete_first_seed=False)
def test_a_transaction_of_conditional_creates_answers_as_the_creates_one_by_one(
    sandbox: Sandbox, seeds: list[tuple[str, str]], entries: list[dict[str, Any]], delete_first_seed: bool
) -> None:
    _same_as_one_by_one(sandbox, seeds, entries, delete_first_seed)


def test_a_large_transaction_of_conditional_creates_of_one_type_answers_as_the_creates_one_by_one(
    sandbox: Sandbox,
) -> None:
    # more codes asked of one type than are searched for one by one in a created resource, more entries
    # than are asked together, duplicates inside the transaction and matches of what exists
    entries = [_spec(f"v{n % 250}") for n in range(320)] + [_spec(f'q"{n}') for n in range(40)] + [_spec('q"3')]
    seeds = [("Patient", "v7"), ("Patient", "v249")]
    _same_as_one_by_one(sandbox, seeds, entries, False)


def _same_as_one_by_one(
    sandbox: Sandbox, seeds: list[tuple[str, str]], entries: list[dict[str, Any]], delete_first_seed: bool
) -> None:
    with _client(sandbox) as tx, _client(sandbox) as single:
        seeded: dict[str, list[str]] = {"tx": [], "single": []}
        for name, c in (("tx", tx), ("single", single)):
            for rtype, value in seeds:
                r = c.post(f"/v1/fhir/{rtype}", content=encode(_resource(rtype, value, "seed")), headers=JSON)
                assert r.status_code == 201
                seeded[name].append(f"{rtype}/{r.json()['id']}")
        delete = delete_first_seed and bool(seeds)
        bundle_entries: list[dict[str, Any]] = []
        if delete:
            bundle_entries.append({"request": {"method": "DELETE", "url": seeded["tx"][0]}})
            assert single.delete(f"/v1/fhir/{seeded['single'][0]}").status_code == 204
        expected: list[int] = []
        for i, spec in enumerate(entries):
            body = _resource(spec["type"], spec["value"], spec["tag"])
            criteria = spec["criteria"].format(**spec) if spec["criteria"] else None
            request: dict[str, Any] = {"method": "POST", "url": spec["type"]}
            if criteria is not None:
                request["ifNoneExist"] = criteria
            entry: dict[str, Any] = {"resource": body, "request": request}
            if spec["full_url"]:
                entry["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
            bundle_entries.append(entry)
            headers = {"If-None-Exist": criteria} if criteria is not None else {}
            r = single.post(f"/v1/fhir/{spec['type']}", content=encode(body), headers={**headers, **JSON})
            expected.append(r.status_code)
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": bundle_entries}
        r = tx.post("/v1/fhir", content=encode(bundle), headers=JSON)
        failed = next((s for s in expected if s >= 400), None)
        if any(spec["full_url"] and spec["criteria"] == REFUSED for spec in entries):
            # a conditional create with a fullUrl is looked up before any entry runs (its urn:uuid may
            # point at what it matches): its refusal comes first
            failed = 403
        if failed is not None:
            # the one-by-one run failed at some entry: the transaction fails as a whole, with that status
            assert r.status_code == failed, r.text
            return
        assert r.status_code == 200, r.text
        statuses = [int(e["response"]["status"].split()[0]) for e in r.json()["entry"]]
        assert statuses == ([204] if delete else []) + expected
        assert _stored(tx) == _stored(single)


def test_a_lone_surrogate_in_a_conditional_create_is_refused_before_any_look_up(sandbox: Sandbox) -> None:
    # the pre-check and the created resources' scan spell codes with orjson, which refuses lone
    # surrogates: the body's check refuses them first (even when the exact decoder reads the body)
    with _client(sandbox) as c:
        for number in ("1", "123456789012345678901234567890"):
            template = (
                '{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient",'
                '"extension":[{"url":"urn:e","valueDecimal":NUMBER}]},'
                '"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:t|a\\ud800"}}]}'
            )
            body = template.replace("NUMBER", number)
            r = c.post("/v1/fhir", content=body.encode(), headers=JSON)
            assert r.status_code == 400, r.text
            assert r.json()["code"] == "INVALID_JSON"
