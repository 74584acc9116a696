"""Client costs, each beside its baseline in the same run (ratios, not absolute times, are the claim).

1. Cold import, each in a fresh interpreter: ``import clinikfhir`` (goal <= 150 ms), ``from clinikfhir
   import Clinik``, and the baselines ``import httpx`` and one fhir.resources R4B model.
2. Read and create latency against ONE sandbox served by uvicorn on 127.0.0.1: ``Clinik.read(Patient, id)``
   (typed Patient included) vs raw ``httpx`` GET + ``orjson.loads`` (goal: <= 1.2x); ``Clinik.create``
   (local validation + typed result) vs raw ``httpx`` POST of the same JSON. The same again through
   the in-process transport (no sockets), which isolates the client's own per-call cost.

Run: ``.venv/bin/python benchmarks/bench_client.py [--rounds 7] [--calls 200]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

IMPORTS = {
    "import clinikfhir": "import clinikfhir",
    "from clinikfhir import Clinik": "from clinikfhir import Clinik",
    "import httpx (baseline)": "import httpx",
    "R4B Patient model (baseline)": "from fhir.resources.R4B.patient import Patient",
}


def cold_import(stmt: str, rounds: int) -> float:
    """Median milliseconds for ``stmt`` in a fresh interpreter (interpreter start-up excluded)."""
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        samples.append(float(out.strip()) * 1000)
    return statistics.median(samples)


def per_call_ms(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1000


def headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "accept": "application/fhir+json", "content-type": "application/fhir+json"}


def measure(clinik: Any, raw: httpx.Client, patient: Any, rounds: int, calls: int) -> dict[str, float]:
    """Median ms/call of each case, interleaved rounds so machine noise hits every case alike."""
    from clinikfhir.models import Patient

    body = patient.model_dump_json(exclude_none=True, by_alias=True).encode()
    pid = clinik.create(patient).id
    url = f"/v1/fhir/Patient/{pid}"
    cases: dict[str, Callable[[], object]] = {
        "read: raw httpx + orjson.loads": lambda: orjson.loads(raw.get(url).content),
        "read: Clinik.read -> Patient": lambda: clinik.read(Patient, pid),
        "create: raw httpx POST": lambda: orjson.loads(raw.post("/v1/fhir/Patient", content=body).content),
        "create: Clinik.create (validated)": lambda: clinik.create(patient),
        "create: Clinik.create(validate=False)": lambda: clinik.create(patient, validate=False),
    }
    for fn in cases.values():  # warm up connections, caches and lazy imports
        per_call_ms(fn, 20)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(per_call_ms(fn, calls))
    return {name: statistics.median(v) for name, v in samples.items()}


def report(where: str, med: dict[str, float], args: argparse.Namespace) -> None:
    print(f"\n== latency against {where} (median of {args.rounds} rounds x {args.calls} calls) ==")
    for name, value in med.items():
        print(f"  {name:<40} {value:7.3f} ms/call")
    read_ratio = med["read: Clinik.read -> Patient"] / med["read: raw httpx + orjson.loads"]
    create_ratio = med["create: Clinik.create (validated)"] / med["create: raw httpx POST"]
    create_nv_ratio = med["create: Clinik.create(validate=False)"] / med["create: raw httpx POST"]
    print(f"  read   Clinik / raw httpx = {read_ratio:.2f}x   (goal <= 1.2x)")
    print(f"  create Clinik / raw httpx = {create_ratio:.2f}x   (validate=False: {create_nv_ratio:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    print(f"== cold import (fresh interpreter, median of {args.rounds}) ==")
    for label, stmt in IMPORTS.items():
        print(f"  {label:<34} {cold_import(stmt, args.rounds):7.1f} ms")
    print("  goal: import clinikfhir <= 150 ms")

    from clinikfhir import Clinik
    from clinikfhir.models import HumanName, Patient
    from clinikfhir.sandbox import Sandbox

    patient = Patient(
        name=[HumanName(family="Bench", given=["Mark", "A"])],
        gender="female",
        birthDate="1980-02-03",  # type: ignore[arg-type]
        telecom=[{"system": "phone", "value": "+1 555 0100"}],  # type: ignore[list-item]
        address=[{"line": ["1 Main St"], "city": "Springfield", "postalCode": "12345"}],  # type: ignore[list-item]
    )
    with Sandbox.serve(port=0) as sb:
        key = sb.create_key("org_bench")
        with (
            Clinik(key, base_url=sb.base_url) as clinik,
            httpx.Client(base_url=sb.base_url, headers=headers(key)) as raw,
        ):
            report("one uvicorn sandbox on 127.0.0.1", measure(clinik, raw, patient, args.rounds, args.calls), args)

    with Sandbox() as sb:  # no sockets: what is left is the client's own cost beside raw httpx's
        key = sb.create_key("org_bench")
        with (
            Clinik(key, base_url=sb.base_url, transport=sb.transport()) as clinik,
            httpx.Client(base_url=sb.base_url, headers=headers(key), transport=sb.transport()) as raw,
        ):
            report("the in-process sandbox transport", measure(clinik, raw, patient, args.rounds, args.calls), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
