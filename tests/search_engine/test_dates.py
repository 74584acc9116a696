"""Date search with the R4 range semantics (search.html#prefix): each expected set below was worked
out by hand from the stored ranges [low, high) and the search range [pl, ph):
eq contained, ne not contained, gt high > ph, lt low < pl, ge (low >= pl or high > ph),
le (high <= ph or low < pl), sa low >= ph, eb high <= pl."""

from __future__ import annotations

import pytest

from clinikfhir.sandbox.search import SearchError

from .conftest import Store

EFFECTIVE = {
    "d1": {"effectiveDateTime": "2013-01-14"},  # [01-14, 01-15)
    "d2": {"effectiveDateTime": "2013-01-14T10:00:00Z"},  # one second
    "d3": {"effectiveDateTime": "2013-01-15T00:00:00Z"},
    "d4": {"effectivePeriod": {"start": "2013-01-21"}},  # open end
    "d5": {"effectiveDateTime": "2013-01"},  # the whole month
    "d6": {"effectivePeriod": {"start": "2013-01-13T12:00:00Z", "end": "2013-01-14T12:00:00Z"}},
    "d7": {"effectiveDateTime": "2012"},
    "d8": {"effectiveInstant": "2013-01-14T05:00:00+10:00"},  # 2013-01-13T19:00Z
}


@pytest.fixture
def dated(store: Store) -> Store:
    for rid, effective in EFFECTIVE.items():
        store.put({"resourceType": "Observation", "id": rid, "status": "final", "code": {"text": "x"}, **effective})
    store.put({"resourceType": "Observation", "id": "none", "status": "final", "code": {"text": "x"}})
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=2013-01-14", "d1 d2"),
        ("date=eq2013-01-14", "d1 d2"),
        ("date=ne2013-01-14", "d3 d4 d5 d6 d7 d8"),
        ("date=gt2013-01-14", "d3 d4 d5"),
        ("date=lt2013-01-14", "d5 d6 d7 d8"),
        ("date=ge2013-01-14", "d1 d2 d3 d4 d5"),
        ("date=le2013-01-14", "d1 d2 d5 d6 d7 d8"),
        ("date=sa2013-01-14", "d3 d4"),
        ("date=eb2013-01-14", "d7 d8"),
        ("date=2013-01", "d1 d2 d3 d5 d6 d8"),
        ("date=2013-01-13", "d8"),
        ("date=gt2013-01-14T10:00", "d1 d3 d4 d5 d6"),
        ("date=lt2013-01-14T10:00", "d1 d5 d6 d7 d8"),
        ("date=2013-01-14T10:00:00Z", "d2"),
        ("date=2013-01-14T20:00:00+10:00", "d2"),
        ("date=ge2013-03-14", "d4"),
        ("date=le2013-03-14", "d1 d2 d3 d4 d5 d6 d7 d8"),
        ("date=ge2013-01-14&date=lt2013-01-15", "d1 d2 d5"),
        ("date=2012,2013-01-15", "d3 d7"),
        ("date=2012,eq2013-01-14T10:00:00Z", "d2 d7"),
        ("date=ap2000-01-01", ""),
        ("date:missing=true", "none"),
        ("date:missing=false", "d1 d2 d3 d4 d5 d6 d7 d8"),
    ],
)
def test_date_prefixes(dated: Store, query: str, expected: str) -> None:
    assert sorted(dated.ids("Observation", query)) == sorted(expected.split())


def test_ap_includes_the_value_itself(dated: Store) -> None:
    assert {"d1", "d2"} <= set(dated.ids("Observation", "date=ap2013-01-14"))


def test_sort_by_date(dated: Store) -> None:
    # ascending by earliest start; missing last; ties by id
    assert dated.ids("Observation", "_sort=date") == ["d7", "d5", "d6", "d8", "d1", "d2", "d3", "d4", "none"]
    assert dated.ids("Observation", "_sort=-date") == ["d4", "d3", "d2", "d1", "d8", "d6", "d5", "d7", "none"]


@pytest.mark.parametrize("bad", ["date=yesterday", "date=2013-13-01", "date=xx2013", "date=2013-01-14T25:00"])
def test_bad_dates_are_400(dated: Store, bad: str) -> None:
    with pytest.raises(SearchError) as err:
        dated.ids("Observation", bad)
    assert err.value.status == 400
    assert "'date'" in err.value.message


def test_from_dates_drive_from_the_range_index(dated: Store) -> None:
    # ge/gt/sa (alone, or OR-ed together) read sp_date through its (…, high, low) index
    from clinikfhir.sandbox.search._query import Compiler

    compiler = Compiler("test", "org_a", False)
    query = compiler.ids_query("Observation", [("date", "ge2013-01-14,sa2013-02-01")])
    plan = " ".join(str(row) for row in dated.conn.execute("EXPLAIN QUERY PLAN " + query.sql, query.args))
    assert "sp_date_range" in plan
    assert sorted(dated.ids("Observation", "date=ge2013-01-14,sa2013-02-01")) == ["d1", "d2", "d3", "d4", "d5"]
    # an equality condition still drives when there is one
    query = Compiler("test", "org_a", False).ids_query("Observation", [("date", "ge2013"), ("status", "final")])
    assert query.sql.startswith("SELECT DISTINCT x1.id FROM sp_token")
