"""Fairness under load: while one tenant loops over deliberately expensive requests (the largest
allowed JSON Patch, a many-key ``_sort`` page of 100, a 100-entry transaction), 8 clients of another
tenant read (by id and a small search). Prints the readers' p50/p99 beside the same readers on the
idle server, measured in the same run, against a sandbox served in its own process.

    .venv/bin/python benchmarks/bench_fairness.py [--reads 200] [--memory] [--sort KEYS]

Goal: readers' p99 under load <= 5x idle, and no request (readers' or the heavy tenant's) over 2 s.
The in-memory store is served from a private temporary WAL file (so readers never queue behind the
writer); the script also prints what creating an in-memory ``Sandbox()`` costs (tests make many).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

import httpx
from bench_sandbox import server_proc

HEAVY = "clk_test_fairnessheavy0001"
READER = "clk_test_fairnessreader001"
SERVER = """
import sys
from clinikfhir.sandbox import Sandbox
sb = Sandbox(sys.argv[1] or None)
sb.add_key(sys.argv[2], "org_heavy")
sb.add_key(sys.argv[3], "org_reader")
sb.serve_forever("127.0.0.1", 0, ready=lambda url: print("listening on", url, flush=True))
"""
SORT = "code,-date,-value-quantity,subject,status,_lastUpdated,-_id"
# token keys (code, status) included: each sort key is one primary-key lookup per match


def observation(i: int, subject: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": ["8867-4", "8310-5", "29463-7"][i % 3]}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
        "valueQuantity": {"value": 60 + i % 50, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def transaction(n: int, subject: str) -> dict[str, object]:
    entries = [
        {"request": {"method": "POST", "url": "Observation"}, "resource": observation(i, subject)} for i in range(n)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def largest_patch() -> list[dict[str, object]]:
    """256 operations (the cap) in a body near 1 MiB: replace a 3.5 KB string again and again."""
    return [{"op": "replace", "path": "/extension/0/valueString", "value": f"{i:04d}" + "y" * 3500} for i in range(256)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def readers(url: str, pids: list[str], reads: int) -> list[float]:
    out: list[list[float]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, headers={"x-api-key": READER}, timeout=30) as c:
            c.get(f"/v1/fhir/Patient/{pids[0]}")
            barrier.wait()
            for i in range(reads):
                start = time.perf_counter()
                if i % 4 == 3:
                    r = c.get("/v1/fhir/Patient", params={"family": "Reader", "_count": "10"})
                else:
                    r = c.get(f"/v1/fhir/Patient/{pids[(k + i) % len(pids)]}")
                out[k].append(time.perf_counter() - start)
                assert r.status_code == 200, r.text[:200]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for part in out for x in part]


def creation_ms(n: int = 30) -> float:
    """p50 of creating and closing an in-memory ``Sandbox()`` in this process, in ms."""
    from clinikfhir.sandbox import Sandbox

    Sandbox().close()  # imports and first-use costs out of the way
    times: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        sb = Sandbox()
        times.append(time.perf_counter() - start)
        sb.close()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=200, help="requests per reader client")
    parser.add_argument("--memory", action="store_true", help="serve from memory instead of a SQLite file")
    parser.add_argument("--sort", default=SORT, help=f"the heavy tenant's _sort (default {SORT})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = "" if args.memory else os.path.join(tmp, "fair.db")
        cmd = [sys.executable, "-c", SERVER, db, HEAVY, READER]
        with (
            server_proc(cmd) as (url, _pid),
            httpx.Client(base_url=url, headers={"x-api-key": HEAVY}, timeout=60) as heavy,
            httpx.Client(base_url=url, headers={"x-api-key": READER}, timeout=60) as setup,
        ):
            pids = [
                setup.post("/v1/fhir/Patient", json={"resourceType": "Patient", "name": [{"family": "Reader"}]}).json()[
                    "id"
                ]
                for _ in range(50)
            ]
            hp = heavy.post(
                "/v1/fhir/Patient",
                json={"resourceType": "Patient", "extension": [{"url": "http://e", "valueString": "x"}]},
            ).json()["id"]
            for _ in range(20):
                assert heavy.post("/v1/fhir", json=transaction(100, f"Patient/{hp}")).status_code == 200
            patch_body = largest_patch()
            bodies = {"patch": len(httpx.Request("PATCH", url, json=patch_body).content)}

            idle = readers(url, pids, args.reads)

            stop = threading.Event()
            heavy_times: dict[str, list[float]] = {"patch": [], "sort": [], "transaction": []}

            def hammer() -> None:
                while not stop.is_set():
                    for kind in ("patch", "sort", "transaction"):
                        start = time.perf_counter()
                        if kind == "patch":
                            r = heavy.patch(f"/v1/fhir/Patient/{hp}", json=patch_body)
                        elif kind == "sort":
                            r = heavy.get("/v1/fhir/Observation", params={"_sort": args.sort, "_count": "100"})
                        else:
                            r = heavy.post("/v1/fhir", json=transaction(100, f"Patient/{hp}"))
                        heavy_times[kind].append(time.perf_counter() - start)
                        assert r.status_code == 200, (kind, r.status_code, r.text[:300])

            h = threading.Thread(target=hammer)
            h.start()
            time.sleep(0.5)
            loaded = readers(url, pids, args.reads)
            stop.set()
            h.join()

    print(f"store: {'memory' if args.memory else 'SQLite file (WAL)'}; 8 reader clients x {args.reads} requests")
    print(f"{'readers':<28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, lat in (("idle server", idle), ("beside the heavy tenant", loaded)):
        print(f"{label:<28} {pct(lat, 0.5):8.2f} {pct(lat, 0.99):8.2f} {max(lat) * 1000:8.1f}")
    print(f"\n{'heavy tenant request':<28} {'n':>5} {'p50 ms':>8} {'max ms':>8}")
    for kind, lat in heavy_times.items():
        print(f"{kind:<28} {len(lat):>5} {statistics.median(lat) * 1000:8.1f} {max(lat) * 1000:8.1f}")
    ratio = pct(loaded, 0.99) / pct(idle, 0.99)
    worst = max([*loaded, *(x for v in heavy_times.values() for x in v)])
    print(f"\nreaders' p99 under load / idle: {ratio:.2f}x (goal <= 5x)")
    print(f"slowest request of either tenant: {worst * 1000:.0f} ms (goal <= 2000)")
    print(f"patch body {bodies['patch'] / 1024:.0f} KiB, 256 ops; _sort={args.sort} over 2,000+ matches")
    print(f"in-memory Sandbox() creation: p50 {creation_ms():.2f} ms (create + close, 30 times)")


if __name__ == "__main__":
    main()
