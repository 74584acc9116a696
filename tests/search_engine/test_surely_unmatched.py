"""The pre-check of a transaction's conditional creates (``search.surely_unmatched``) never says
"nothing matches" when the general search finds a match or refuses the criteria, on the real store,
across tenants, environments, types (a folded parameter among them), escaped and quoted codes; it
asks every type in one statement; for one plain token it is exact."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox import search

from .conftest import TENANT_SYSTEM, Store

SYSTEMS = ["urn:s1", "urn:s2", "urn:clinikfhir:load", TENANT_SYSTEM]
CODES = ["v1", "v2", 'q"1', "a b", "é", "org_a", "org_b", "1.50"]
TYPES = ["Organization", "Observation"]
NAMES = ["identifier", "_tag", "_security", "code", "combo-code", "_id", "identifier:not", "active", "name"]


def _coding(system: str | None, code: str) -> dict[str, Any]:
    return {"code": code} if system is None else {"system": system, "code": code}


def _value(system: str | None, code: str) -> str:
    return code if system is None else f"{system}|{code}"


resources = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(TYPES),
            "id": st.sampled_from([f"o{n}" for n in range(6)]),
            "tenant": st.sampled_from(["org_a", "org_a", "org_b"]),
            "env": st.sampled_from(["test", "test", "live"]),
            "identifiers": st.lists(
                st.tuples(st.sampled_from([*SYSTEMS[:2], None]), st.sampled_from(CODES)), max_size=2
            ),
            "tags": st.lists(st.tuples(st.sampled_from([*SYSTEMS[:3], None]), st.sampled_from(CODES)), max_size=2),
            "security": st.lists(st.tuples(st.sampled_from(SYSTEMS[:2]), st.sampled_from(CODES)), max_size=1),
            "codes": st.lists(st.tuples(st.sampled_from(SYSTEMS[:2]), st.sampled_from(CODES)), max_size=2),
            "deleted": st.booleans(),
        }
    ),
    max_size=10,
)
values = st.one_of(
    st.builds(_value, st.sampled_from([*SYSTEMS, None]), st.sampled_from(CODES)),
    st.sampled_from(["urn:s1|v1,urn:s2|v2", "v1,v2", "|v1", "urn:s1|", "urn:s1|v\\,1", "a|b|c", ""]),
)
criteria = st.lists(st.tuples(st.sampled_from(NAMES), values), min_size=1, max_size=3)
asks = st.lists(st.tuples(st.sampled_from([*TYPES, "Patient"]), criteria), min_size=1, max_size=6)


def _fill(store: Store, items: list[dict[str, Any]]) -> None:
    for item in items:
        body: dict[str, Any] = {"resourceType": item["type"], "id": item["id"]}
        if item["identifiers"]:
            body["identifier"] = [
                {"value": v} if s is None else {"system": s, "value": v} for s, v in item["identifiers"]
            ]
        meta: dict[str, Any] = {}
        if item["tags"]:
            meta["tag"] = [_coding(s, v) for s, v in item["tags"]]
        if item["security"]:
            meta["security"] = [_coding(s, v) for s, v in item["security"]]
        if meta:
            body["meta"] = meta
        if item["type"] == "Observation":
            codes = [_coding(s, v) for s, v in item["codes"]]
            body |= {"status": "final", "code": {"coding": codes[:1]}}
            if codes[1:]:  # a component's code: read by combo-code (folded) and component-code
                body["component"] = [{"code": {"coding": codes[1:]}}]
        store.put(body, tenant=item["tenant"], env=item["env"])
        if item["deleted"]:
            store.delete(item["type"], item["id"], tenant=item["tenant"], env=item["env"])


def _tenants() -> set[str]:
    """The tenant codes the sandbox knows (its keys' and its data's), as the server gives them."""
    return {"org_a", "org_b"}


def _search(conn: sqlite3.Connection, rtype: str, params: list[tuple[str, str]], fast: bool) -> Any:
    try:
        result = search.run(
            conn, env="test", tenant="org_a", type=rtype, params=params, offset=0, count=2, lenient=False, fast=fast
        )
    except search.SearchError as err:
        return ("error", err.status)
    return result.ids


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=resources, asked=asks)
@example(
    items=[
        {
            "type": "Observation",
            "id": "o1",
            "tenant": "org_a",
            "env": "test",
            "identifiers": [],
            "tags": [],
            "security": [],
            "codes": [("urn:s1", "v1"), ("urn:s2", 'q"1')],
            "deleted": False,
        }
    ],
    asked=[("Observation", [("combo-code", 'urn:s2|q"1')]), ("Observation", [("combo-code", "urn:s2|v1")])],
)
def test_surely_unmatched_never_hides_a_match_or_a_refusal(
    items: list[dict[str, Any]], asked: list[tuple[str, list[tuple[str, str]]]]
) -> None:
    store = Store()
    try:
        _fill(store, items)
        with store.store.read() as conn:
            answers = search.surely_unmatched(conn, env="test", tenant="org_a", asks=asked, tenant_codes=_tenants)
            assert len(answers) == len(asked)
            for (rtype, params), none in zip(asked, answers, strict=True):
                found = _search(conn, rtype, params, fast=False)
                assert found == _search(conn, rtype, params, fast=True)
                if none:
                    assert found == [], (rtype, params)
                if none is not None and len(params) == 1 and "," not in params[0][1]:
                    # one plain token: a row of the code in this tenant is a match
                    assert none == (found == []), (rtype, params)
    finally:
        store.close()


def test_every_type_is_asked_in_one_statement(store: Store) -> None:
    store.put({"resourceType": "Organization", "id": "o1", "meta": {"tag": [{"system": "urn:load", "code": "k1"}]}})
    store.put({"resourceType": "Organization", "id": "o2", "identifier": [{"system": "urn:s", "value": "v"}]})
    store.put(
        {"resourceType": "Patient", "id": "p1", "meta": {"tag": [{"system": "urn:load", "code": "k2"}]}}, tenant="org_b"
    )
    store.put(
        {"resourceType": "Patient", "id": "p2", "meta": {"tag": [{"system": "urn:load", "code": "k3"}]}}, env="live"
    )
    asked: list[tuple[str, list[tuple[str, str]]]] = [
        ("Organization", [("_tag", "urn:load|k1")]),  # exists
        ("Organization", [("_tag", "urn:load|k2")]),  # nothing has it
        ("Patient", [("_tag", "urn:load|k2")]),  # another tenant's
        ("Patient", [("_tag", "urn:load|k3")]),  # another environment's
        ("Organization", [("_tag", "urn:other|k1")]),  # another system
        ("Organization", [("identifier", "urn:s|v"), ("_tag", "urn:load|k1")]),  # both exist (not together)
        ("Organization", [("identifier", "urn:s|v"), ("_tag", "urn:load|k9")]),  # one term has no row
        ("Organization", [("_id", "o1")]),  # not looked at
        ("Organization", [("_tag", f"{TENANT_SYSTEM}|org_b")]),  # refused by the tenant rule
        ("Organization", [("_tag", "org_b")]),  # a system-less _tag naming a tenant: refused too
        ("Organization", [("identifier:not", "urn:s|v")]),  # a modifier
        ("Organization", [("_tag", "k1")]),  # a system-less _tag naming no tenant: any system's k1
        ("Organization", [("_tag", "k2,k9")]),  # no k2 in this tenant and env, no k9 anywhere
    ]
    statements: list[str] = []
    with store.store.read() as conn:
        conn.set_trace_callback(statements.append)
        try:
            answers = search.surely_unmatched(conn, env="test", tenant="org_a", asks=asked, tenant_codes=_tenants)
        finally:
            conn.set_trace_callback(None)
    assert answers == [False, True, True, True, True, False, True, None, None, None, None, False, True]
    assert len(statements) == 1
    unseen = search.surely_unmatched(store.conn, env="test", tenant="org_a", asks=asked[7:11], tenant_codes=_tenants)
    assert unseen == [None] * 4
