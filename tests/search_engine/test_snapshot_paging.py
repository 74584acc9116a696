"""Paging a sorted search from its snapshot: exact under ties (id breaks them) and under concurrent
writes (the walk is the match set as of its first page: nothing twice, nothing skipped, deleted
resources left out, later ones not added), tokens bound to the query and tenant, and a bounded
memory budget (an evicted snapshot falls back to offset paging)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clinikfhir.sandbox import Sandbox
from clinikfhir.sandbox.search._snapshots import SNAPSHOTS  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def c(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox.client(sandbox.create_key("org_walk")) as client:
        yield client


def _obs(day: int, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "hr"},
        "effectiveDateTime": f"2024-01-{day:02d}",
        "valueQuantity": {"value": value},
    }


def _page(c: httpx.Client, url: str | None = None, **params: str) -> tuple[list[str], str | None, dict[str, Any]]:
    r = c.get(url) if url is not None else c.get("/v1/fhir/Observation", params=params)
    assert r.status_code == 200, r.text
    bundle: dict[str, Any] = r.json()
    nxt = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    return [e["resource"]["id"] for e in bundle.get("entry", [])], nxt, bundle


def _walk(c: httpx.Client, between: Any = None, **params: str) -> list[str]:
    seen, nxt, _ = _page(c, **params)
    while nxt is not None:
        if between is not None:
            between()
        ids, nxt, _ = _page(c, nxt)
        seen += ids
    return seen


def _create(c: httpx.Client, day: int, value: int) -> str:
    r = c.post("/v1/fhir/Observation", json=_obs(day, value))
    assert r.status_code == 201
    return str(r.json()["id"])


def test_ties_break_on_id_and_every_match_comes_once(c: httpx.Client) -> None:
    ids = [_create(c, 1 + i % 3, 7) for i in range(47)]  # three dates, one value: ties everywhere
    walked = _walk(c, _sort="-date,value-quantity", _count="5")
    assert sorted(walked) == sorted(ids)
    assert len(walked) == len(set(walked))
    by_day = {i: 1 + n % 3 for n, i in enumerate(ids)}
    assert walked == sorted(ids, key=lambda i: (-by_day[i], i))


def test_concurrent_writes_do_not_shift_the_walk(c: httpx.Client) -> None:
    ids = [_create(c, 10 + i % 5, i) for i in range(30)]
    doomed = iter(sorted(ids)[::4])
    created: list[str] = []
    deleted: list[str] = []

    def write() -> None:  # between every two pages: one resource sorting first, one deleted
        created.append(_create(c, 1, -1))
        victim = next(doomed, None)
        if victim is not None:
            assert c.delete(f"/v1/fhir/Observation/{victim}").status_code in (200, 204)
            deleted.append(victim)

    first, nxt, bundle = _page(c, _sort="date", _count="4")
    assert bundle["total"] == 30
    walked = list(first)
    while nxt is not None:
        write()
        ids_, nxt, later = _page(c, nxt)
        assert later["total"] == 30  # the snapshot's total
        walked += ids_
    assert len(walked) == len(set(walked))  # nothing twice although resources sorting first arrived
    assert not set(walked) & set(created)  # later resources are not in this walk
    order = sorted(ids, key=lambda i: (10 + ids.index(i) % 5, i))  # date, then id
    assert walked == [i for i in order if i in set(walked)]  # in the first page's order
    assert set(order) - set(deleted) <= set(walked)  # nothing skipped
    assert walked[:4] == order[:4]
    # a fresh search sees the current data
    assert len(_walk(c, _sort="date", _count="50")) == 30 + len(created) - len(deleted)


def test_a_token_is_bound_to_its_query_and_tenant(sandbox: Sandbox, c: httpx.Client) -> None:
    for i in range(6):
        _create(c, 1, i)
    _, nxt, _ = _page(c, _sort="date", _count="2")
    assert nxt is not None
    token = httpx.URL(nxt).params["_page"]
    with sandbox.client(sandbox.create_key("org_thief")) as other:
        r = other.get("/v1/fhir/Observation", params={"_sort": "date", "_count": "2", "_page": token})
        assert r.status_code == 400
        assert r.json()["code"] == "INVALID_PARAMETER"
    r = c.get("/v1/fhir/Observation", params={"_sort": "-date", "_count": "2", "_page": token})
    assert r.status_code == 400
    assert c.get(nxt).status_code == 200


def test_an_evicted_snapshot_falls_back_to_offset_paging(c: httpx.Client) -> None:
    ids = [_create(c, 1 + i, i) for i in range(9)]
    first, nxt, _ = _page(c, _sort="date", _count="3")
    SNAPSHOTS.clear()  # as if the budget had pushed it out, or the server restarted
    rest = _walk_from(c, nxt)
    assert first + rest == ids  # no writes in between: offset paging gives the same walk
    assert SNAPSHOTS.bytes > 0  # the continuation took a fresh snapshot


def _walk_from(c: httpx.Client, nxt: str | None) -> list[str]:
    out: list[str] = []
    while nxt is not None:
        ids, nxt, _ = _page(c, nxt)
        out += ids
    return out


def test_the_budget_bounds_memory() -> None:
    from clinikfhir.sandbox.search._snapshots import Snapshots  # pyright: ignore[reportPrivateUsage]

    snaps = Snapshots(budget=10_000)
    key = ("test", "org", "Observation", ())
    kept = [snaps.put(key, [f"id{n}-{i}" for i in range(50)], 50) for n in range(10)]
    assert all(k is not None for k in kept)
    assert snaps.bytes <= 10_000
    assert snaps.get(kept[0] or "", key) is None  # the oldest went first
    assert snaps.get(kept[-1] or "", key) is not None
    assert snaps.get(kept[-1] or "", ("test", "other", "Observation", ())) is None  # another tenant
    assert snaps.put(key, ["x" * 100] * 1000, 1000) is None  # larger than the whole budget
