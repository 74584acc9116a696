"""The cost of checking a search against the server's CapabilityStatement, per search.

Run: ``.venv/bin/python benchmarks/bench_capabilities.py [--rounds 7]``

``Clinik(check_search_capabilities=True)`` checks every search against the statement it fetched
once (the sandbox's: every R4 type, every search parameter, modifier extensions). It prints, per
round's median:

- ``dump``: the baseline, ``model_dump(mode="json")`` of that statement (what every check cost
  before the statement was indexed once per object);
- ``first check``: the first check on a newly parsed statement (builds its index);
- ``check``: every later check on the same statement (the per-search cost);
- ``check(dict)``: a check given the statement as a JSON dict (indexed anew on each call).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from clinikfhir.models import decode, parse
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationQuery


def timed(fn: Callable[[], Any], budget: float = 0.0) -> float:
    """Seconds per call: one call, or as many as fit in ``budget`` seconds (at least one)."""
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    sb = Sandbox()
    try:
        with sb.client() as http:
            raw = http.get("/v1/metadata").raise_for_status().content
    finally:
        sb.close()
    data = decode(raw)
    query = ObservationQuery().patient.Patient.name("x").code("8867-4").date.ge("2024-01-01").sort("-date")
    rows: dict[str, list[float]] = {"dump": [], "first check": [], "check": [], "check(dict)": []}
    for _ in range(args.rounds):
        model = parse(raw)
        assert query.check(data) == []  # the benchmark's search is supported
        rows["dump"].append(timed(functools.partial(model.model_dump, mode="json", by_alias=True, exclude_none=True)))
        rows["first check"].append(timed(functools.partial(query.check, model)))
        rows["check"].append(timed(functools.partial(query.check, model), budget=0.2))
        rows["check(dict)"].append(timed(functools.partial(query.check, data), budget=0.2))
    base = statistics.median(rows["dump"])
    print(f"CapabilityStatement of {len(raw) / 1e3:.0f} kB; medians of {args.rounds} rounds")
    for name, times in rows.items():
        med = statistics.median(times)
        print(f"{name:>12}: {med * 1e6:12.1f} us   {med / base:10.6f}x dump")


if __name__ == "__main__":
    main()
