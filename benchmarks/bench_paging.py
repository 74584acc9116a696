"""Benchmark paging: walk every page of a sorted search over 100,000 matches and print the per-page
p50 beside a page of a 300-match search, with snapshot paging (what the sandbox serves) and with
offset paging (every page re-evaluates and re-sorts every match: the baseline), in one run.

A page's cost here is what the server pays for it: the engine's ``run`` plus reading the page's
bodies from the store (``fetch_bodies``). Data is written through the real store (``Store``:
resources, history and index rows in one transaction per 1,000 resources).

    .venv/bin/python benchmarks/bench_paging.py [--matches 100000] [--count 100]

Goal (issue 13): the 100k walk's per-page p50 within 1.5x of the 300-match page.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from clinikfhir.sandbox._pages import fetch_bodies
from clinikfhir.sandbox._store import Store
from clinikfhir.sandbox.search import run

TENANT = "org_bench"
ENV = "test"


def load(store: Store, n: int, rare: int, rng: random.Random) -> None:
    for start in range(0, n, 1000):
        with store.write() as conn:
            for i in range(start, min(n, start + 1000)):
                day = rng.randint(0, 4 * 365 - 1)
                resource: dict[str, Any] = {
                    "resourceType": "Observation",
                    "id": f"o{i:07d}",
                    "meta": {"versionId": "1", "lastUpdated": store.next_instant()},
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "rare" if i < rare else "8867-4"}]},
                    "subject": {"reference": f"Patient/p{i % 5000}"},
                    "effectiveDateTime": f"{2022 + day // 365}-{1 + day % 365 // 31:02d}-{1 + day % 28:02d}",
                    "valueQuantity": {"value": rng.randint(40, 180), "unit": "/min"},
                }
                body = orjson.dumps(resource).decode()
                store.put_version(
                    conn,
                    env=ENV,
                    rtype="Observation",
                    rid=resource["id"],
                    tenant=TENANT,
                    version=1,
                    last_updated=resource["meta"]["lastUpdated"],
                    method="POST",
                    body=body,
                    resource=resource,
                )


def page(store: Store, params: list[tuple[str, str]], offset: int, count: int, snapshot: str | bool) -> Any:
    with store.read() as conn:
        result = run(
            conn,
            env=ENV,
            tenant=TENANT,
            type="Observation",
            params=params,
            offset=offset,
            count=count,
            lenient=False,
            snapshot=snapshot,
        )
        fetch_bodies(conn, ENV, TENANT, [("Observation", i) for i in result.ids])
    return result


def walk(store: Store, params: list[tuple[str, str]], count: int, *, snapshots: bool, pages: int | None) -> list[float]:
    """Per-page milliseconds of a walk (all pages, or the first ``pages``)."""
    times: list[float] = []
    offset = 0
    snap: str | bool = snapshots
    while True:
        t0 = time.perf_counter()
        result = page(store, params, offset, count, snap)
        times.append((time.perf_counter() - t0) * 1000)
        if snapshots:
            snap = result.snapshot or True
        offset += count
        if not result.ids or offset >= (result.total or 0) or (pages is not None and len(times) >= pages):
            return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--baseline-pages", type=int, default=30, help="offset pages measured (each costs a sort)")
    args = parser.parse_args()
    rng = random.Random(13)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        t0 = time.perf_counter()
        load(store, args.matches, 300, rng)
        print(f"loaded {args.matches:,} Observations in {time.perf_counter() - t0:.1f} s")
        big = [("_sort", "date")]
        small = [("code", "rare"), ("_sort", "date")]
        small_times = [t for _ in range(30) for t in walk(store, small, args.count, snapshots=True, pages=1)]
        small_p50 = statistics.median(small_times)
        snap_times = walk(store, big, args.count, snapshots=True, pages=None)
        offset_times = walk(store, big, args.count, snapshots=False, pages=args.baseline_pages)
        snap_p50, offset_p50 = statistics.median(snap_times), statistics.median(offset_times)
        print(f"sorted page of {args.count}, per-page p50 (ms):")
        print(f"  300-match search, first page             {small_p50:8.2f}")
        print(
            f"  {args.matches:,}-match walk, snapshot paging   {snap_p50:8.2f}  "
            f"({len(snap_times)} pages; first {snap_times[0]:.1f} ms; {snap_p50 / small_p50:.2f}x the 300-match page)"
        )
        print(
            f"  {args.matches:,}-match walk, offset paging     {offset_p50:8.2f}  "
            f"(first {len(offset_times)} pages; {offset_p50 / small_p50:.2f}x the 300-match page)"
        )
        store.close()


if __name__ == "__main__":
    main()
