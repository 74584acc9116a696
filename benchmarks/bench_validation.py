"""Local validation cost beside plain model validation, as ratios within one run.

Run: ``.venv/bin/python benchmarks/bench_validation.py [--rounds 7] [--before DIR] [--load-only]``

For a typical Patient (the spec's ``Patient-example``), a typical Observation (meta tag, category,
LOINC code, subject, effectiveDateTime, UCUM valueQuantity, interpretation, reference range) and a
100-entry transaction Bundle of such Observations and Patients, it times, per resource:

- ``model``: ``fhir.resources`` R4B ``Model.model_validate(dict)`` (types and cardinality only);
- ``validate``: ``clinikfhir.validation.validate(dict)``, everything local validation checks
  (structure on the raw JSON, formats, required bindings, reference targets, invariants);
- ``validate(model)``: the same given a model instance (includes its serialisation to JSON).

The goal of issue 6: ``validate`` costs at most 2x ``model``. Medians of ``--rounds`` rounds.

Then what a load validates (issue 15), ``validate(data, level="error")`` as the sandbox calls it on
every write and ``clinikfhir load`` on every Bundle: CPU time per resource over Synthea-shaped data
(tests/cli/synthea_like.py, 20 patients: 440 resources, each alone and as its 20 transaction
Bundles). With ``--before DIR`` (an untouched copy of main: ``git archive <commit> | tar -x -C DIR``)
the same is measured from that tree too, in separate processes alternated five times, each side's
best kept (CPU time, so the machine's other work weighs less than on wall-clock figures).
``--load-only`` prints only that part.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from clinikfhir.validation import validate

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "r4-examples-4.0.1.zip"


def typical_observation(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": {"tag": [{"system": "https://example.org/tags", "code": "bench"}]},
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
        "subject": {"reference": f"Patient/pt-{i % 10}"},
        "effectiveDateTime": "2024-03-01T10:15:00+01:00",
        "valueQuantity": {"value": 72.5, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
        "interpretation": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "N"}]}
        ],
        "referenceRange": [
            {
                "low": {"value": 60, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
                "high": {"value": 100, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
            }
        ],
    }


def transaction(patient: dict[str, Any], n: int = 100) -> dict[str, Any]:
    entries = []
    for i in range(n):
        if i % 10 == 0:
            res = dict(patient, id=f"pt-{i // 10}")
            entries.append(
                {
                    "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
                    "resource": res,
                    "request": {"method": "PUT", "url": f"Patient/pt-{i // 10}"},
                }
            )
        else:
            entries.append(
                {
                    "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
                    "resource": typical_observation(i),
                    "request": {"method": "POST", "url": "Observation"},
                }
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def per_call(fn: Callable[[], object], rounds: int, min_time: float = 0.2) -> float:
    fn()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start >= min_time / 4:
            break
        n *= 2
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", metavar="DIR", help="also measure the load-shaped rows from this source tree")
    parser.add_argument("--load-only", action="store_true", help="only the load-shaped rows")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(load_shaped(args.rounds)))
        return 0
    if args.load_only:
        load_lines(args.before, args.rounds)
        return 0
    with zipfile.ZipFile(CORPUS) as zf:
        patient = json.loads(zf.read("Patient-example.json"))
    observation = typical_observation(1)
    bundle = transaction(patient)
    cases: list[tuple[str, dict[str, Any], Any]] = [
        ("Patient (Patient-example)", patient, Patient),
        ("Observation (typical vital sign)", observation, Observation),
        ("Bundle (transaction, 100 entries)", bundle, Bundle),
    ]
    for _, data, model in cases:
        errors = [str(i) for i in validate(data) if i.is_error]
        if errors:
            print("benchmark input is not valid:", errors, file=sys.stderr)
            return 1
        model.model_validate(data)
    print(f"{'input':36} {'model':>11} {'validate':>11} {'ratio':>6} {'validate(model)':>16} {'ratio':>6}")
    for label, data, model in cases:
        instance = model.model_validate(data)
        t_model = per_call(lambda m=model, d=data: m.model_validate(d), args.rounds)
        t_validate = per_call(lambda d=data: validate(d), args.rounds)
        t_instance = per_call(lambda i=instance: validate(i), args.rounds)
        print(
            f"{label:36} {t_model * 1e6:9.0f}us {t_validate * 1e6:9.0f}us {t_validate / t_model:5.2f}x "
            f"{t_instance * 1e6:14.0f}us {t_instance / t_model:5.2f}x"
        )
    corpus_line(args.rounds)
    load_lines(args.before, args.rounds)
    return 0


def load_shaped(rounds: int) -> dict[str, float]:
    """Best CPU seconds per resource of ``validate(level="error")`` on Synthea-shaped data, in this
    process (whatever ``clinikfhir`` it imported)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.cli.synthea_like import patient_bundle

    bundles = [patient_bundle(seed) for seed in range(20)]
    resources = [entry["resource"] for bundle in bundles for entry in bundle["entry"]]
    for data in [*resources, *bundles]:
        if [i for i in validate(data, level="error")]:
            raise SystemExit("benchmark input is not valid")
    out: dict[str, float] = {}
    for label, items in (("resources", resources), ("bundles", bundles)):
        best = float("inf")
        for _ in range(max(rounds, 10)):
            start = time.process_time()
            for data in items:
                validate(data, level="error")
            best = min(best, time.process_time() - start)
        out[label] = best / len(resources)
    return out


def load_lines(before: str | None, rounds: int) -> None:
    import os
    import subprocess

    trees: list[tuple[str, str | None]] = [("this tree", None)]
    if before:
        trees.append((f"before ({before})", before))
    best: dict[str, dict[str, float]] = {}
    for _ in range(5 if before else 1):
        for name, tree in trees:
            env = {**os.environ, "PYTHONPATH": tree} if tree else None
            done = subprocess.run(
                [sys.executable, __file__, "--child", "--rounds", str(rounds)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=tree,
            )
            for key, value in json.loads(done.stdout).items():
                mine = best.setdefault(name, {})
                mine[key] = min(mine.get(key, float("inf")), value)
    print()
    print('validate(level="error") on Synthea-shaped data (20 patients, 440 resources): CPU us per resource')
    print(f"{'':36} {'each alone':>11} {'in Bundles':>11}")
    for name, _ in trees:
        row = best[name]
        print(f"{name[:36]:36} {row['resources'] * 1e6:9.1f}us {row['bundles'] * 1e6:9.1f}us")
    if before:
        now, then = best["this tree"], best[trees[1][0]]
        print(
            f"{'before / this tree':36} {then['resources'] / now['resources']:10.2f}x "
            f"{then['bundles'] / now['bundles']:10.2f}x"
        )


def corpus_line(rounds: int) -> None:
    """The same over every corpus example the R4B models accept (a mix of all resource types)."""
    from clinikfhir.models import resource_class

    pairs: list[tuple[Any, dict[str, Any]]] = []
    with zipfile.ZipFile(CORPUS) as zf:
        for name in sorted(zf.namelist()):
            data = json.loads(zf.read(name))
            try:
                cls = resource_class(data["resourceType"])
                cls.model_validate(data)
            except Exception:  # R4-only types and what R4B rejects are left out
                continue
            pairs.append((cls, data))

    def models() -> None:
        for cls, data in pairs:
            cls.model_validate(data)

    def validations() -> None:
        for _, data in pairs:
            validate(data)

    t_model = per_call(models, max(3, rounds // 2), min_time=1.0)
    t_validate = per_call(validations, max(3, rounds // 2), min_time=1.0)
    label = f"corpus ({len(pairs)} examples, per example)"
    print(
        f"{label:36} {t_model / len(pairs) * 1e6:9.0f}us {t_validate / len(pairs) * 1e6:9.0f}us "
        f"{t_validate / t_model:5.2f}x"
    )


if __name__ == "__main__":
    raise SystemExit(main())
