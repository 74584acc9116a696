"""Search builder figures: build + render a 6-parameter query (µs), beside a hand-written f-string
and urllib.parse.urlencode of the same pairs (the floor and a plain-stdlib baseline); and the import
cost of the generated query classes (cold subprocesses), beside ``import clinikfhir`` alone.

Run: ``.venv/bin/python benchmarks/bench_query_builder.py``
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import timeit
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
N = 20_000


def build() -> str:
    from clinikfhir.search import ObservationQuery

    return (
        ObservationQuery()
        .code(("http://loinc.org", "8867-4"))
        .subject("Patient/123")
        .date.ge("2024-01-01")
        .status("final", "amended")
        .sort("-date")
        .count(50)
        .query_string()
    )


def baseline_fstring() -> str:
    return (
        "code=http://loinc.org|8867-4&subject=Patient/123&date=ge2024-01-01&status=final,amended&_sort=-date&_count=50"
    )


def baseline_urlencode() -> str:
    return urlencode(
        [
            ("code", "http://loinc.org|8867-4"),
            ("subject", "Patient/123"),
            ("date", "ge2024-01-01"),
            ("status", "final,amended"),
            ("_sort", "-date"),
            ("_count", "50"),
        ]
    )


def per_call_us(fn: object) -> float:
    runs = timeit.repeat(fn, number=N, repeat=5)  # type: ignore[arg-type]
    return min(runs) / N * 1e6


def cold_import_ms(code: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        times.append(float(out) * 1000)
    return statistics.median(times)


def main() -> None:
    build()  # warm: the first call imports the Observation module
    ours = per_call_us(build)
    fstr = per_call_us(baseline_fstring)
    enc = per_call_us(baseline_urlencode)
    print(f"build+render 6-parameter query   {ours:8.2f} µs   (x{ours / enc:.1f} of urlencode)")
    print(f"urlencode of the same 6 pairs    {enc:8.2f} µs")
    print(f"constant f-string (floor)        {fstr:8.2f} µs")
    base = cold_import_ms("import clinikfhir")
    search = cold_import_ms("import clinikfhir.search")
    one = cold_import_ms("from clinikfhir.search import ObservationQuery")
    every = cold_import_ms(
        "import importlib; from clinikfhir._generated.search_queries import QUERY_MODULES as M; "
        "[importlib.import_module(m) for m in M.values()]"
    )
    print(f"cold import clinikfhir            {base:8.1f} ms")
    print(f"cold import clinikfhir.search     {search:8.1f} ms   (+{search - base:.1f} ms)")
    print(f"cold import ObservationQuery      {one:8.1f} ms   (+{one - base:.1f} ms)")
    print(f"cold import all 146 query classes {every:8.1f} ms   (what lazy loading avoids)")


if __name__ == "__main__":
    main()
