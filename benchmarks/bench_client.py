"""Client costs, each beside its baseline in the same run (ratios, not absolute times, are the claim).

1. Cold import, each in a fresh interpreter: ``import clinikfhir`` (goal <= 150 ms), ``from clinikfhir
   import Clinik``, and the baselines ``import httpx`` and one fhir.resources R4B model.
2. Read and create latency against ONE sandbox served by uvicorn on 127.0.0.1: ``Clinik.read(Patient, id)``
   (typed Patient included) vs raw ``httpx`` GET + ``orjson.loads`` (goal: <= 1.2x); ``Clinik.create``
   (local validation + typed result) vs raw ``httpx`` POST of the same JSON.

Run: ``.venv/bin/python benchmarks/bench_client.py [--rounds 7] [--calls 200]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    print("== cold import (fresh interpreter, median of %d) ==" % args.rounds)
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
    body = patient.model_dump_json(exclude_none=True, by_alias=True).encode()

    with Sandbox.serve(port=0) as sb:
        key = sb.create_key("org_bench")
        headers = {"x-api-key": key, "accept": "application/fhir+json", "content-type": "application/fhir+json"}
        with Clinik(key, base_url=sb.base_url) as clinik, httpx.Client(base_url=sb.base_url, headers=headers) as raw:
            pid = clinik.create(patient).id
            assert pid
            url = f"/v1/fhir/Patient/{pid}"

            def raw_read() -> object:
                return orjson.loads(raw.get(url).content)

            def typed_read() -> object:
                return clinik.read(Patient, pid)

            def raw_create() -> object:
                return orjson.loads(raw.post("/v1/fhir/Patient", content=body).content)

            def typed_create() -> object:
                return clinik.create(patient)

            def typed_create_unvalidated() -> object:
                return clinik.create(patient, validate=False)

            cases = {
                "read: raw httpx + orjson.loads": raw_read,
                "read: Clinik.read -> Patient": typed_read,
                "create: raw httpx POST": raw_create,
                "create: Clinik.create (validated)": typed_create,
                "create: Clinik.create(validate=False)": typed_create_unvalidated,
            }
            for fn in cases.values():  # warm up connections, caches and lazy imports
                per_call_ms(fn, 20)
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.rounds):  # interleaved rounds, so machine noise hits every case alike
                for name, fn in cases.items():
                    samples[name].append(per_call_ms(fn, args.calls))

    med = {name: statistics.median(v) for name, v in samples.items()}
    print(
        f"\n== latency against one uvicorn sandbox on 127.0.0.1 (median of {args.rounds} rounds x {args.calls} calls) =="
    )
    for name, value in med.items():
        print(f"  {name:<40} {value:7.3f} ms/call")
    read_ratio = med["read: Clinik.read -> Patient"] / med["read: raw httpx + orjson.loads"]
    create_ratio = med["create: Clinik.create (validated)"] / med["create: raw httpx POST"]
    create_nv_ratio = med["create: Clinik.create(validate=False)"] / med["create: raw httpx POST"]
    print(f"\n  read   Clinik / raw httpx = {read_ratio:.2f}x   (goal <= 1.2x)")
    print(f"  create Clinik / raw httpx = {create_ratio:.2f}x   (validate=False: {create_nv_ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
