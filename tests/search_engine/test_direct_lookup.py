"""The direct token lookup (``search._query._direct``, the conditional-create fast path) answers
exactly as the general search: same ids, order, total and errors, on the real store."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox import search
from clinikfhir.sandbox.search._query._direct import lookup
from clinikfhir.sandbox.search._query._run import index_tenants

from .conftest import Store

SYSTEMS = ["urn:s1", "urn:s2", "urn:clinikfhir:load"]
VALUES = ["v1", "v2", "k1"]
NAMES = ["identifier", "_tag", "_security", "active", "type", "name", "identifier:not", "_id"]
RAW_VALUES = [
    "urn:s1|v1",
    "urn:s2|v1",
    "v1",
    "urn:clinikfhir:load|k1",
    "urn:s1|",
    "|v1",
    "v1,v2",
    "urn:s1|v1,urn:s2|v2",
    "urn:clinikfhir:load|k1,urn:clinikfhir:load|v1,urn:clinikfhir:load|v2",
    "v2,urn:s2|v1",
    "urn:s1|v1,urn:s1|v1",
    "urn:s1|v1,",
    ",v1",
    "urn:s1|v1,|v2",
    "v1,org_b",
    "urn:s2|k1,https://clinikapi.com/tenant|org_a",
    "urn:s1|v\\,1",
    "true",
    "org_b",
    "https://clinikapi.com/tenant|org_a",
    "https://clinikapi.com/tenant|org_b",
    "a|b|c",
]


def _coding(system: str | None, code: str) -> dict[str, Any]:
    return {"code": code} if system is None else {"system": system, "code": code}


resources = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from([f"o{n}" for n in range(8)]),
            "tenant": st.sampled_from(["org_a", "org_a", "org_b"]),
            "env": st.sampled_from(["test", "test", "live"]),
            "identifiers": st.lists(st.tuples(st.sampled_from([*SYSTEMS, None]), st.sampled_from(VALUES)), max_size=3),
            "tags": st.lists(st.tuples(st.sampled_from([*SYSTEMS, None]), st.sampled_from(VALUES)), max_size=2),
            "active": st.sampled_from([True, False, None]),
            "deleted": st.booleans(),
        }
    ),
    max_size=12,
)
queries = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(RAW_VALUES)), min_size=1, max_size=3)


def _fill(store: Store, items: list[dict[str, Any]]) -> None:
    for item in items:
        body: dict[str, Any] = {"resourceType": "Organization", "id": item["id"]}
        if item["identifiers"]:
            body["identifier"] = [
                {"value": v} if s is None else {"system": s, "value": v} for s, v in item["identifiers"]
            ]
        if item["tags"]:
            body["meta"] = {"tag": [_coding(s, v) for s, v in item["tags"]]}
        if item["active"] is not None:
            body["active"] = item["active"]
        store.put(body, tenant=item["tenant"], env=item["env"])
        if item["deleted"]:
            store.delete("Organization", item["id"], tenant=item["tenant"], env=item["env"])


def _answer(store: Store, params: list[tuple[str, str]], *, direct: bool, **page: Any) -> Any:
    with store.store.read() as conn:
        try:
            r = search.run(
                conn,
                env="test",
                tenant="org_a",
                type="Organization",
                params=params,
                lenient=False,
                fast=direct,
                **page,
            )
        except search.SearchError as err:
            return ("error", err.status, err.code, err.message)
    return (r.ids, r.total, r.snapshot is not None, r.includes, r.warnings)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=resources,
    params=queries,
    offset=st.integers(0, 3),
    count=st.integers(0, 3),
    snapshot=st.booleans(),
)
def test_the_direct_lookup_answers_as_the_general_search(
    items: list[dict[str, Any]], params: list[tuple[str, str]], offset: int, count: int, snapshot: bool
) -> None:
    store = Store()
    try:
        _fill(store, items)
        page = {"offset": offset, "count": count, "snapshot": snapshot}
        assert _answer(store, params, direct=True, **page) == _answer(store, params, direct=False, **page)
    finally:
        store.close()


@pytest.mark.parametrize(
    "params",
    [
        [("_tag", "urn:clinikfhir:load|k1")],  # what `clinikfhir load` sends as ifNoneExist
        [("identifier", "urn:s1|v1")],  # Synthea's ifNoneExist
        [("identifier", "urn:s1|v1"), ("_tag", "urn:clinikfhir:load|k1")],
        [("_tag", "urn:clinikfhir:load|k1"), ("identifier", "v1"), ("_format", "json")],
        [("_tag", "urn:clinikfhir:load|k1,urn:clinikfhir:load|k2")],  # a transaction's creates asked together
        [("identifier", "urn:s1|v1,urn:s1|v2"), ("_tag", "k1,k3")],
    ],
)
def test_the_conditional_create_criteria_take_the_direct_path(store: Store, params: list[tuple[str, str]]) -> None:
    store.put(
        {
            "resourceType": "Organization",
            "id": "o1",
            "identifier": [{"system": "urn:s1", "value": "v1"}],
            "meta": {"tag": [{"system": "urn:clinikfhir:load", "code": "k1"}]},
        }
    )
    store.put({"resourceType": "Organization", "id": "o2", "identifier": [{"system": "urn:s2", "value": "v1"}]})
    store.put({"resourceType": "Organization", "id": "o3"}, tenant="org_b")
    with store.store.read() as conn:
        found = lookup(
            conn,
            env="test",
            tenant="org_a",
            type="Organization",
            params=params,
            offset=0,
            count=2,
            snapshot=False,
            tenant_codes=lambda: index_tenants(conn, "test"),
        )
    assert found is not None
    assert found.ids == ["o1"]
    assert found.total == 1
    assert _answer(store, params, direct=True, offset=0, count=2) == _answer(
        store, params, direct=False, offset=0, count=2
    )


def test_beyond_its_limit_or_a_snapshot_page_the_general_search_answers(store: Store) -> None:
    for n in range(4):
        store.put({"resourceType": "Organization", "id": f"o{n}", "identifier": [{"system": "urn:s1", "value": "v"}]})
    params = [("identifier", "urn:s1|v")]
    with store.store.read() as conn:

        def ask(**kw: Any) -> search.SearchResult | None:
            args: dict[str, Any] = {"offset": 0, "count": 2, "snapshot": False, **kw}
            return lookup(
                conn,
                env="test",
                tenant="org_a",
                type="Organization",
                params=params,
                tenant_codes=lambda: index_tenants(conn, "test"),
                **args,
            )

        assert ask(limit=3) is None  # 4 matches
        assert ask(snapshot=True) is None  # a later page would be served from a snapshot
        assert ask(snapshot="some-id") is None
        found = ask(limit=4, offset=2)
        assert found is not None
        assert (found.ids, found.total) == (["o2", "o3"], 4)
    # and the general search, which keeps the snapshot, still answers through run()
    result = store.run("Organization", params, count=2)
    assert (result.ids, result.total) == (["o0", "o1"], 4)
