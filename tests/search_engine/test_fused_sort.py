"""A sort key read together with a condition on the same index rows (``_plan.plan`` with a key)
gives the same pages as the plain plan (a lookup per condition and per sort key), on the real store:
resources with several values per parameter (Timing events, several codings), none, or Periods."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox import search
from clinikfhir.sandbox.search._query import Compiler
from clinikfhir.sandbox.search._query._sort import first_key

from .conftest import Store

DAYS = ["2023-12-31", "2024-01-01", "2024-01-01T10:00:00Z", "2024-02", "2025"]
CODES = ["a", "b", "c"]

dates = st.one_of(
    st.none(),
    st.sampled_from(DAYS).map(lambda d: {"effectiveDateTime": d}),
    st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)).map(
        lambda p: {"effectivePeriod": {"start": min(p), "end": max(p)}}
    ),
    st.lists(st.sampled_from(DAYS), min_size=1, max_size=3).map(lambda e: {"effectiveTiming": {"event": e}}),
)
observations = st.lists(
    st.fixed_dictionaries(
        {
            "codes": st.lists(st.sampled_from(CODES), max_size=3),
            "category": st.lists(st.sampled_from(CODES), max_size=2),
            "date": dates,
            "value": st.one_of(st.none(), st.integers(0, 5)),
            "tenant": st.sampled_from(["org_a", "org_a", "org_b"]),
        }
    ),
    max_size=14,
)
FILTERS = [
    ("date", "ge2024-01-01"),
    ("date", "lt2024-01-01"),
    ("date", "2024"),
    ("date", "sa2023-12-31"),
    ("date", "ne2024-01-01"),
    ("value-quantity", "gt2"),
    ("value-quantity", "le3"),
    ("category", "a"),
    ("category", "http://x|b"),
    ("code", "a,b"),
    ("code:not", "a"),
]
SORTS = [
    "date",
    "-date",
    "value-quantity",
    "-value-quantity",
    "category",
    "-category",
    "code",
    "-date,code",
    "date,-_id",
]


def _put(store: Store, n: int, item: dict[str, Any]) -> None:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"o{n}",
        "status": "final",
        "code": {"coding": [{"system": "http://x", "code": c} for c in item["codes"]]},
    }
    if item["category"]:
        body["category"] = [{"coding": [{"system": "http://x", "code": c}]} for c in item["category"]]
    if item["date"] is not None:
        body.update(item["date"])
    if item["value"] is not None:
        body["valueQuantity"] = {"value": item["value"], "system": "http://unitsofmeasure.org", "code": "kg"}
    store.put(body, tenant=item["tenant"])


def _answer(store: Store, params: list[tuple[str, str]], *, fast: bool, **page: Any) -> Any:
    with store.store.read() as conn:
        try:
            r = search.run(
                conn, env="test", tenant="org_a", type="Observation", params=params, lenient=False, fast=fast, **page
            )
        except search.SearchError as err:
            return ("error", err.status, err.message)
    return (r.ids, r.total, r.snapshot is not None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=observations,
    driver=st.sampled_from([None, ("code", "a"), ("code", "http://x|b"), ("category", "a")]),
    filters=st.lists(st.sampled_from(FILTERS), min_size=1, max_size=2),
    sort=st.sampled_from(SORTS),
    offset=st.integers(0, 4),
    count=st.integers(1, 4),
    snapshot=st.booleans(),
    total=st.sampled_from([None, "none", "accurate"]),
)
def test_a_fused_sort_key_gives_the_plain_plans_pages(
    items: list[dict[str, Any]],
    driver: tuple[str, str] | None,
    filters: list[tuple[str, str]],
    sort: str,
    offset: int,
    count: int,
    snapshot: bool,
    total: str | None,
) -> None:
    store = Store()
    try:
        for n, item in enumerate(items):
            _put(store, n, item)
        params = [*([driver] if driver else []), *filters, ("_sort", sort), *([("_total", total)] if total else [])]
        page = {"offset": offset, "count": count, "snapshot": snapshot}
        assert _answer(store, params, fast=True, **page) == _answer(store, params, fast=False, **page)
    finally:
        store.close()


def test_a_date_filter_and_a_date_sort_read_the_rows_once() -> None:
    terms = [("code", "a"), ("date", "ge2024-01-01")]
    where = Compiler("test", "org_a", False).ids_query("Observation", terms, first_key("Observation", "-date"))
    assert where.keyed
    assert where.sql.count("sp_date") == 1  # one join, no separate EXISTS lookup
    # a key on other rows than every condition's: the plain plan
    other = Compiler("test", "org_a", False).ids_query("Observation", terms, first_key("Observation", "code"))
    assert not other.keyed  # the code condition drives; its rows are filtered, not the key's
    assert first_key("Observation", "_lastUpdated") is None
