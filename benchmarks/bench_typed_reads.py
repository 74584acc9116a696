"""Typed reads and writes of FHIR searchset pages: clinikfhir beside fhir.resources and its peers.

Run: ``.venv/bin/python benchmarks/bench_typed_reads.py [--quick]``

Builds 1,000- and 10,000-entry Observation and Patient searchsets (deterministic, realistic:
meta with tenant tag, codings, references, zoned date-times, UCUM quantities with decimals such as
``1.50`` that a float cannot spell) and prints, in one run, the median time of each approach and its
ratio to ``orjson.loads`` of the same bytes (reads; CPU time of this process) or to
``orjson.dumps`` of the decoded page
(writes). Peers are measured when installed (``pip install -e .[bench]``), otherwise skipped with a
note. Peak RSS for the 10,000-entry page is measured in a fresh child process per approach.

Goals (issue 7): all entries typed <= 5x orjson.loads, first entry typed <= 1.5x, serialisation
<= 5x orjson.dumps.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from clinikfhir.models import decode_lazy, dump_bytes, encode, parse

BASE = "https://api.clinikapi.com/v1/fhir"


def _meta(rnd: random.Random) -> dict[str, Any]:
    return {
        "versionId": str(rnd.randint(1, 9)),
        "lastUpdated": f"2024-03-{rnd.randint(10, 28)}T{rnd.randint(10, 23)}:{rnd.randint(10, 59)}:"
        f"{rnd.randint(10, 59)}.{rnd.randint(100, 999)}Z",
        "tag": [{"system": "https://clinikapi.com/tenant", "code": "org_a"}],
    }


def observation(i: int, rnd: random.Random) -> dict[str, Any]:
    value = rnd.choice(
        [Decimal(f"{rnd.uniform(40, 180):.1f}"), Decimal(f"{rnd.uniform(1, 9):.2f}"), rnd.randint(40, 180)]
    )
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": _meta(rnd),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}],
            "text": "Heart rate",
        },
        "subject": {"reference": f"Patient/pat-{i % 500}"},
        "effectiveDateTime": f"2024-01-{rnd.randint(10, 28)}T{rnd.randint(10, 23)}:15:00+01:00",
        "valueQuantity": {
            "value": value,
            "unit": "beats/minute",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def patient(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"pat-{i}",
        "meta": _meta(rnd),
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"MRN{i:07d}"}],
        "active": True,
        "name": [{"use": "official", "family": rnd.choice(["Smith", "Nguyen", "Okafor"]), "given": ["Ana", "Maria"]}],
        "telecom": [{"system": "phone", "value": f"+1 555 01{i % 100:02d}", "use": "home"}],
        "gender": rnd.choice(["male", "female"]),
        "birthDate": f"19{rnd.randint(30, 99)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}",
        "address": [{"line": ["1 Main St"], "city": "Springfield", "postalCode": "12345", "country": "US"}],
    }


def searchset(kind: str, n: int) -> bytes:
    rnd = random.Random(42)
    make = observation if kind == "Observation" else patient
    entries = [make(i, rnd) for i in range(n)]
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": n,
        "link": [{"relation": "self", "url": f"{BASE}/{kind}?_count={n}"}],
        "entry": [{"fullUrl": f"{BASE}/{kind}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in entries],
    }
    return encode(page)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU time of ``fn`` (process time: steadier than wall time on a shared machine)."""
    fn()  # warm-up (first use compiles plans, imports modules)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def _gc_paused(fn: Callable[[bytes], object], raw: bytes) -> object:
    """Run ``fn`` with the cyclic GC paused, as clinikfhir's decoders and builders do."""
    gc.disable()
    try:
        return fn(raw)
    finally:
        gc.enable()


def _first_entry(raw: bytes) -> object:
    """What a lazy page pays to show its first entry: decode once (exact digits kept), type entry 0."""
    page = decode_lazy(raw)
    return parse(page["entry"][0]["resource"])


def read_approaches(raw: bytes) -> dict[str, Callable[[], object] | str]:
    from fhir.resources.R4B.bundle import Bundle

    out: dict[str, Callable[[], object] | str] = {
        "orjson.loads (baseline)": lambda: orjson.loads(raw),
        "orjson.loads, gc paused (reference)": lambda: _gc_paused(orjson.loads, raw),
        "clinikfhir trusted, all entries typed": lambda: parse(raw),
        "clinikfhir first entry typed (lazy page)": lambda: _first_entry(raw),
        "clinikfhir strict (full validation)": lambda: parse(raw, strict=True),
        "fhir.resources Bundle.model_validate_json": lambda: Bundle.model_validate_json(raw),
    }
    if importlib.util.find_spec("fhirpy_types_r4b"):
        from fhirpy_types_r4b import Bundle as FpBundle

        out["fhirpy-types-r4b Bundle.model_validate_json"] = lambda: FpBundle.model_validate_json(raw)
    else:
        out["fhirpy-types-r4b"] = "not installed (pip install -e .[bench])"
    if importlib.util.find_spec("fhirclient"):
        from fhirclient.models.bundle import Bundle as FcBundle

        out["fhirclient Bundle(json.loads)"] = lambda: FcBundle(json.loads(raw), strict=False)
    else:
        out["fhirclient"] = "not installed (pip install -e .[bench])"
    if importlib.util.find_spec("fhirkit"):
        import fhirkit

        out["fhirkit-rs parse (Rust, reference)"] = lambda: fhirkit.parse(raw)
    else:
        out["fhirkit-rs"] = "not installed (pip install -e .[bench])"
    return out


def write_approaches(raw: bytes) -> dict[str, Callable[[], object] | str]:
    from fhir.resources.R4B.bundle import Bundle

    data = orjson.loads(raw)
    model = parse(raw)
    validated = Bundle.model_validate_json(raw)
    out: dict[str, Callable[[], object] | str] = {
        "orjson.dumps (baseline)": lambda: orjson.dumps(data),
        "clinikfhir dump_bytes (lossless)": lambda: dump_bytes(model),
        "fhir.resources model_dump_json": lambda: validated.model_dump_json(),
    }
    if importlib.util.find_spec("fhirkit"):
        import fhirkit

        kit = fhirkit.parse(raw)
        out["fhirkit-rs to_json (Rust, reference)"] = lambda: kit.to_json()
    return out


def table(title: str, approaches: dict[str, Callable[[], object] | str], repeat: int) -> None:
    print(f"\n{title}")
    print(f"  {'approach':<46} {'median ms':>10} {'x baseline':>11}")
    base = None
    for name, fn in approaches.items():
        if isinstance(fn, str):
            print(f"  {name:<46} {'skipped:':>10} {fn}")
            continue
        ms = median_ms(fn, repeat)
        base = base or ms
        print(f"  {name:<46} {ms:>10.2f} {ms / base:>10.2f}x")


# The child reads its peak from /proc (VmHWM): ru_maxrss would include the parent's size at fork.
_CHILD = """
import gc, sys
sys.path.insert(0, {path!r})
from bench_typed_reads import read_approaches, searchset
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))
with open({file!r}, "rb") as fh:
    raw = fh.read()
warm = read_approaches(searchset({kind!r}, 10))[{name!r}]
warm()  # imports and plan compilation happen here, before the measurement
fn = read_approaches(raw)[{name!r}]
gc.collect()
resident = status("VmRSS:")
kept = fn()
print(resident, status("VmHWM:"))
"""


def peak_rss(kind: str, n: int) -> None:
    import tempfile
    from pathlib import Path

    print(f"\nPeak RSS, {n:,}-entry {kind} page (fresh process each: resident before the read, peak after it)")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        fh.write(searchset(kind, n))
        file = fh.name
    try:
        names = [name for name, fn in read_approaches(searchset(kind, 10)).items() if not isinstance(fn, str)]
        for name in names:
            code = _CHILD.format(path=str(Path(__file__).resolve().parent), file=file, kind=kind, name=name)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"  {name:<46} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            before, peak = (int(x) for x in out.stdout.split())
            print(f"  {name:<46} {peak / 1024:>8.1f} MB peak ({(peak - before) / 1024:+8.1f} MB for the read)")
    finally:
        Path(file).unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000-entry pages only, fewer repeats")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, orjson {orjson.__version__}; gc enabled: {gc.isenabled()}")
    sizes = [1000] if args.quick else [1000, 10000]
    for kind in ("Observation", "Patient"):
        for n in sizes:
            raw = searchset(kind, n)
            repeat = (9 if n <= 1000 else 5) if not args.quick else 5
            table(
                f"READ  {n:,}-entry {kind} searchset ({len(raw) / 1e6:.2f} MB), median of {repeat}",
                read_approaches(raw),
                repeat,
            )
            table(f"WRITE {n:,}-entry {kind} searchset, serialise the typed page", write_approaches(raw), repeat)
    if not args.quick:
        for kind in ("Observation", "Patient"):
            peak_rss(kind, 10000)


if __name__ == "__main__":
    main()
