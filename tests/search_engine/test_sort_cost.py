"""Sorting on token and string parameters: each key is a primary-key lookup per match, not a walk of
every index row of the parameter (SQLite's MIN/MAX optimisation chose the value index and made a
token ``_sort`` over 2,000 matches take seconds). The order itself is unchanged: the smallest code
(ascending) or the largest (descending), missing values last, ties by id.

Cost is counted in SQLite VM steps (a progress handler), which is deterministic: no timing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import Store

N = 400
STATUSES = ("final", "amended", "preliminary")


def _codes(i: int) -> list[str]:
    """Zero, one or two codes per Observation (so MIN and MAX differ)."""
    if i % 40 == 0:
        return []
    first = f"c{(i * 7) % 50:02d}"
    return [first, f"c{(i * 3) % 50:02d}"] if i % 5 == 0 else [first]


@pytest.fixture(scope="module")
def many() -> Iterator[Store]:
    s = Store()
    for i in range(N):
        s.put(
            {
                "resourceType": "Observation",
                "id": f"o{i:03d}",
                "status": STATUSES[i % 3],
                "code": {"coding": [{"system": "http://loinc.org", "code": c} for c in _codes(i)]},
                "effectiveDateTime": f"2024-01-{1 + i % 28:02d}",
            }
        )
    for i in range(200):
        s.put({"resourceType": "Patient", "id": f"p{i:03d}", "name": [{"family": f"Fam{(i * 11) % 17:02d}"}]})
    yield s
    s.close()


def _steps(store: Store, rtype: str, query: str) -> tuple[int, list[str]]:
    """(VM steps, in hundreds, that the search cost; the ids it returned)."""
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0

    conn = store.conn  # the connection the searches of this thread run on
    conn.set_progress_handler(tick, 100)
    try:
        ids = store.ids(rtype, query)
    finally:
        conn.set_progress_handler(None, 0)
    return ticks[0], ids


def _expected(desc: bool) -> list[str]:
    ids = [f"o{i:03d}" for i in range(N)]
    present = [i for i in ids if _codes(int(i[1:]))]
    missing = [i for i in ids if not _codes(int(i[1:]))]

    def key(rid: str) -> str:
        codes = _codes(int(rid[1:]))
        return max(codes) if desc else min(codes)

    present.sort()  # ties by id
    present.sort(key=key, reverse=desc)
    return present + missing


@pytest.mark.parametrize("desc", [False, True])
def test_token_sort_orders_by_the_smallest_or_largest_code_with_missing_last(many: Store, desc: bool) -> None:
    assert many.ids("Observation", f"_sort={'-' if desc else ''}code") == _expected(desc)


def test_token_sort_then_date(many: Store) -> None:
    ids = many.ids("Observation", "_sort=status,-date")
    rank = {s: n for n, s in enumerate(sorted(STATUSES))}
    expected = sorted(
        (f"o{i:03d}" for i in range(N)),
        key=lambda rid: (rank[STATUSES[int(rid[1:]) % 3]], -(1 + int(rid[1:]) % 28), rid),
    )
    assert ids == expected


@pytest.mark.parametrize("key", ["code", "-code", "status", "-status", "status,code"])
def test_a_token_sort_costs_about_what_a_date_sort_costs(many: Store, key: str) -> None:
    date_cost, _ = _steps(many, "Observation", "_sort=date")
    token_cost, ids = _steps(many, "Observation", f"_sort={key}")
    assert len(ids) == N
    # one primary-key lookup per match and key: the walk of the parameter's index cost 30-40x more
    assert token_cost <= 3 * date_cost * len(key.split(","))


def test_a_string_sort_costs_about_what_an_id_sort_costs(many: Store) -> None:
    id_cost, by_id = _steps(many, "Patient", "_sort=_id")
    name_cost, by_name = _steps(many, "Patient", "_sort=family")
    assert sorted(by_name) == by_id
    assert by_name == sorted(by_id, key=lambda rid: (f"fam{(int(rid[1:]) * 11) % 17:02d}", rid))
    assert name_cost <= 10 * id_cost + 50
