"""Import-time figures: ``import clinikfhir``, the first model, the first ``validate``, the first
search builder. Each figure is the minimum over ``--runs`` fresh ``python -c`` processes (this
machine is shared: the minimum is the least noisy estimate), timed inside the process with
``time.perf_counter`` around the statement only (interpreter start-up excluded).

    python benchmarks/bench_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CASES = {
    "import clinikfhir": "import clinikfhir",
    "first model": "from clinikfhir.models import Patient",
    "first validate": "from clinikfhir import validate; validate({'resourceType': 'Patient'})",
    "first search builder": "from clinikfhir.search import ObservationQuery",
}

_TIMED = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def measure(stmt: str, runs: int) -> float:
    """The minimum, over ``runs`` fresh interpreters, of the seconds ``stmt`` takes."""
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _TIMED.format(stmt=stmt)], capture_output=True, text=True, check=True
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'import':<24} {'ms (min of ' + str(args.runs) + ')':>16}")
    for name, stmt in CASES.items():
        print(f"{name:<24} {measure(stmt, args.runs) * 1000:>16.1f}")


if __name__ == "__main__":
    main()
