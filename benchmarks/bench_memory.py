"""Server memory under idempotency keys: 1,000 large-result ``POST _search`` and 1,000 idempotent
creates, each with a fresh ``Idempotency-Key`` (as the client sends), against a sandbox served in its
own process; prints the server's RSS growth beside the idempotency cache's byte budget.

    .venv/bin/python benchmarks/bench_memory.py [--n 1000] [--budget-mib 32] [--small-budget-mib 4]

Goal: the growth stays bounded by the configured budget (plus the SQLite page cache), whatever the
number of requests: searches (reads) are never cached, creates only up to the budget.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid

import httpx
from bench_sandbox import server_proc

KEY = "clk_test_memorybench0001"
SERVER = """
import sys
from clinikfhir.sandbox import Sandbox
sb = Sandbox(sys.argv[1], idempotency_bytes=int(sys.argv[2]))
sb.add_key(sys.argv[3], "org_mem")
sb.serve_forever("127.0.0.1", 0, ready=lambda url: print("listening on", url, flush=True))
"""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def big_patient(i: int) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "name": [{"family": f"Large{i}", "given": ["Memory"]}],
        "gender": "female",
        "extension": [{"url": "http://example.org/blob", "valueString": "x" * 6000}],
    }


def run(n: int, budget: int) -> tuple[float, float, float, int]:
    """(RSS after seeding, growth after the searches, growth after the creates) in MiB, and page bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "mem.db")
        cmd = [sys.executable, "-c", SERVER, db, str(budget), KEY]
        with server_proc(cmd) as (url, pid), httpx.Client(base_url=url, headers={"x-api-key": KEY}, timeout=60) as c:
            for start in range(0, 200, 100):
                entries = [
                    {"request": {"method": "POST", "url": "Patient"}, "resource": big_patient(start + i)}
                    for i in range(100)
                ]
                r = c.post("/v1/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
                assert r.status_code == 200, r.text[:200]
            page = c.post("/v1/fhir/Patient/_search", data={"_count": "100"})
            page_bytes = len(page.content)
            time.sleep(0.2)
            base = rss_mib(pid)
            for _ in range(n):
                r = c.post(
                    "/v1/fhir/Patient/_search",
                    data={"_count": "100", "gender": "female"},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                assert r.status_code == 200
            after_search = rss_mib(pid)
            for i in range(n):
                r = c.post("/v1/fhir/Patient", json=big_patient(i), headers={"Idempotency-Key": str(uuid.uuid4())})
                assert r.status_code == 201
            after_create = rss_mib(pid)
    return base, after_search - base, after_create - base, page_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--budget-mib", type=float, default=32)
    parser.add_argument("--small-budget-mib", type=float, default=4)
    args = parser.parse_args()
    print(f"{'idempotency budget':<20} {'RSS base':>10} {'+ searches':>11} {'+ creates':>10}  (MiB)")
    for mib in (args.budget_mib, args.small_budget_mib):
        base, searches, creates, page = run(args.n, int(mib * 2**20))
        print(f"{mib:>15.1f} MiB {base:>10.1f} {searches:>+11.1f} {creates:>+10.1f}")
    print(
        f"\n{args.n} POST _search of {page / 1024:.0f} KiB each ({args.n * page / 2**20:.0f} MiB of answers, "
        f"none cached), then {args.n} idempotent creates of ~7 KiB (cached up to the budget)."
    )


if __name__ == "__main__":
    main()
