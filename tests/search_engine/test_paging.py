"""Paging through 1,000 matches with no duplicates or gaps, stable multi-key sorts, and the
capability description matching what ``run`` accepts."""

from __future__ import annotations

import random

import pytest

from clinikfhir.sandbox.search import (
    SUPPORTED_MODIFIERS,
    SUPPORTED_PREFIXES,
    SearchError,
    parameter_modifiers,
    supported_parameters,
)

from .conftest import Store

STATUSES = ("final", "amended", "preliminary")


@pytest.fixture
def thousand(store: Store) -> Store:
    rng = random.Random(7)
    for i in range(1000):
        day = rng.randint(1, 5)  # few distinct dates: many ties that must break on id
        store.put(
            {
                "resourceType": "Observation",
                "id": f"o{rng.randrange(10**9):09d}-{i}",
                "status": STATUSES[i % 3],
                "code": {"coding": [{"system": "urn:c", "code": f"c{i % 4}"}]},
                "effectiveDateTime": f"2024-01-0{day}",
                "valueQuantity": {"value": rng.randint(1, 50)},
            }
        )
    store.put(
        {
            "resourceType": "Observation",
            "id": "other-tenant",
            "status": "final",
            "code": {"text": "x"},
            "effectiveDateTime": "2024-01-01",
        },
        tenant="org_b",
    )
    return store


@pytest.mark.parametrize("sort", ["-date", "date", "status,-date", "-value-quantity,code", "_id", "-_lastUpdated"])
def test_paging_through_1000_has_no_duplicates_or_gaps(thousand: Store, sort: str) -> None:
    everything = thousand.run("Observation", f"_sort={sort}", count=1000)
    assert everything.total == 1000
    assert len(everything.ids) == 1000
    pages: list[str] = []
    offset = 0
    while True:
        page = thousand.run("Observation", f"_sort={sort}", offset=offset, count=37)
        assert page.total == 1000
        if not page.ids:
            break
        pages.extend(page.ids)
        offset += 37
    assert pages == everything.ids
    assert len(set(pages)) == 1000
    assert "other-tenant" not in pages


def test_sort_orders_and_ties_break_on_id(thousand: Store) -> None:
    rows = {
        r[0]: r
        for r in thousand.conn.execute(
            "SELECT r.id, d.low, t.code FROM resources r JOIN sp_date d ON d.id = r.id AND d.param = 'date' "
            "JOIN sp_token t ON t.id = r.id AND t.param = 'status' WHERE r.tenant = 'org_a'"
        )
    }
    ids = thousand.ids("Observation", "_sort=-date")
    assert ids == sorted(rows, key=lambda i: (-rows[i][1], i))
    ids = thousand.ids("Observation", "_sort=status,-date")
    assert ids == sorted(rows, key=lambda i: (rows[i][2], -rows[i][1], i))
    assert thousand.ids("Observation", "_sort=status,-date") == ids  # stable across runs


def test_total_and_filters_on_a_large_set(thousand: Store) -> None:
    assert thousand.run("Observation", "code=urn:c|c1", count=0).total == 250
    assert thousand.run("Observation", "code=c1,c2&status=final", count=0).total == len(
        [i for i in range(1000) if i % 4 in (1, 2) and i % 3 == 0]
    )


def test_bad_sort_key_is_400(thousand: Store) -> None:
    with pytest.raises(SearchError) as err:
        thousand.ids("Observation", "_sort=nonsense")
    assert "_sort" in err.value.message
    assert thousand.run("Observation", "_sort=nonsense", lenient=True).warnings


def test_capabilities_describe_what_run_accepts(store: Store) -> None:
    params = supported_parameters("Observation")
    codes = {p.code for p in params}
    assert {"code", "date", "subject", "value-quantity", "code-value-quantity", "_id", "_lastUpdated"} <= codes
    assert {"_content", "_text"} <= codes
    assert "_query" not in codes
    assert "near" in {p.code for p in supported_parameters("Location")}
    assert SUPPORTED_PREFIXES["date"] == ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
    assert "below" in SUPPORTED_MODIFIERS["uri"]
    # every advertised parameter with every advertised modifier is accepted (no 400 for support)
    samples: dict[str, str | None] = {
        "token": "x",
        "string": "x",
        "date": "2024",
        "number": "1",
        "quantity": "1",
        "reference": "X/1",
        "uri": "urn:x",
        "composite": None,
    }
    for rtype in ("Patient", "Observation", "Encounter", "Condition", "MedicationRequest", "DiagnosticReport"):
        for p in supported_parameters(rtype):
            value = samples[p.type]
            if value is None:
                continue
            if p.type == "reference":
                value = f"{p.targets[0]}/1" if p.targets else "http://x/y"
            store.run(rtype, [(p.code, value)])
            if p.code != "_tag":  # the tenant rule refuses _tag:missing (every resource carries the tenant tag)
                store.run(rtype, [(f"{p.code}:missing", "true")])
            for modifier in parameter_modifiers(p):
                if modifier in ("missing", "in", "not-in", "of-type", "identifier"):
                    continue
                store.run(rtype, [(f"{p.code}:{modifier}", value)])
            if p.type in SUPPORTED_PREFIXES:
                for prefix in SUPPORTED_PREFIXES[p.type]:
                    store.run(rtype, [(p.code, prefix + value)])


def test_capability_fragment_lists_only_accepted_includes(store: Store) -> None:
    from clinikfhir.sandbox.search import capability_fragment

    fragment = capability_fragment("Patient")
    names = {p["name"] for p in fragment["searchParam"]}
    assert names == {p.code for p in supported_parameters("Patient")} | {"_list"}
    assert all(p["documentation"] for p in fragment["searchParam"])
    assert "Observation:subject" in fragment["searchRevInclude"]
    for value in fragment["searchInclude"]:
        store.run("Patient", [("_include", value)])
    for value in fragment["searchRevInclude"]:
        store.run("Patient", [("_revinclude", value)])
