"""``clinikfhir demo``: a short guided tour of the typed client on an embedded sandbox (no key, no network).

Creates a patient and observations, reads, patches, searches with the typed builder, runs
``$everything``, shows a validation error caught locally and a typed server error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from collections.abc import Generator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from clinikfhir.client import Clinik
    from clinikfhir.sandbox import Sandbox


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options; the command's entry point is ``args.run(args) -> int``."""
    parser.add_argument(
        "--http",
        action="store_true",
        help="serve the sandbox on 127.0.0.1 (uvicorn) and talk real HTTP instead of in-process",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    return run(http=bool(args.http), out=sys.stdout)


@contextlib.contextmanager
def _sandbox(http: bool) -> Generator[Sandbox, None, None]:
    from clinikfhir.sandbox import Sandbox

    if http:
        with Sandbox.serve(port=0) as sb:
            yield sb
    else:
        sb = Sandbox()
        try:
            yield sb
        finally:
            sb.close()


def run(*, http: bool = False, out: TextIO) -> int:
    """Run the tour, printing to ``out``; returns the exit status."""
    from clinikfhir import Clinik

    with _sandbox(http) as sb:
        key = sb.create_key("org_demo")
        transport = None if http else sb.transport()
        with Clinik(key, base_url=sb.base_url, transport=transport) as clinik:
            _tour(clinik, sb, out, http)
    return 0


def _tour(clinik: Clinik, sb: Sandbox, out: TextIO, http: bool) -> None:
    from clinikfhir import JsonPatch
    from clinikfhir.errors import LocalValidationError, NotFoundError
    from clinikfhir.models import CodeableConcept, Coding, HumanName, Observation, Patient, Quantity, Reference

    step = 0

    def say(title: str) -> None:
        nonlocal step
        step += 1
        print(f"\n{step}. {title}", file=out)

    def show(text: str) -> None:
        print(f"   {text}", file=out)

    where = sb.base_url if http else "in-process (no sockets)"
    print(f"clinikfhir demo: a local ClinikAPI gateway sandbox, {where}", file=out)
    print("Tenant org_demo, test key clk_test_**** (never printed, never logged).", file=out)

    say("Create a patient (validated locally first)")
    patient = clinik.create(
        Patient(name=[HumanName(family="Smith", given=["John"])], gender="male", birthDate=dt.date(1990, 1, 15))
    )
    assert patient.id is not None
    tags = (patient.meta.tag or []) if patient.meta else []
    tag = next((f"{t.system}|{t.code}" for t in tags), "?")
    show(f"Patient/{patient.id}  version {patient.meta.versionId if patient.meta else '?'}")
    show(f"tenant tag added by the gateway: {tag}")
    meta = clinik.last_response
    if meta is not None:
        show(f"HTTP {meta.status}, request id {meta.request_id}, ETag {meta.etag}")

    say("Record three heart-rate observations (LOINC 8867-4)")
    for day, bpm in ((1, 72), (2, 80), (3, 68)):
        obs = clinik.create(
            Observation(
                status="final",
                code=CodeableConcept(coding=[Coding(system="http://loinc.org", code="8867-4", display="Heart rate")]),
                subject=Reference(reference=f"Patient/{patient.id}"),
                effectiveDateTime=dt.datetime(2024, 3, day, 9, 0, tzinfo=dt.UTC),
                valueQuantity=Quantity(
                    value=Decimal(bpm), unit="beats/minute", system="http://unitsofmeasure.org", code="/min"
                ),
            )
        )
        show(f"Observation/{obs.id}: {bpm} /min on 2024-03-0{day}")

    say("Read it back, typed")
    again = clinik.read(Patient, patient.id)
    name = again.name[0] if again.name else None
    show(f"clinik.read(Patient, id) -> {type(again).__name__}: {name.family if name else ''}, {again.gender}")

    say("Patch it (RFC 6902, paths checked against the Patient model)")
    patch = JsonPatch(Patient).replace("/gender", "female").add("/name/0/given/-", "Ann")
    patched = clinik.patch(Patient, patient.id, patch)
    show("ops: " + ", ".join(f"{op['op']} {op['path']}" for op in patch))
    show(
        f"now {patched.gender}, given {patched.name[0].given if patched.name else []}, "
        f"version {patched.meta.versionId if patched.meta else '?'}"
    )

    say("Search with the typed builder")
    query = clinik.search(Observation).code("8867-4").date.ge("2024-03-02").sort("-date").page_size(50)
    show(f"query: {query.query_string()}")
    page = query.page()
    for o in page.resources:
        value = o.valueQuantity.value if o.valueQuantity else None
        when = o.effectiveDateTime
        show(f"{when.isoformat() if isinstance(when, dt.datetime) else when}  {value} /min")
    show(f"total {page.total}")

    say("$everything for the patient")
    everything = clinik.everything(Patient, patient.id)
    counts: dict[str, int] = {}
    for entry in everything.bundle.get("entry", []):
        rtype = entry.get("resource", {}).get("resourceType", "?")
        counts[rtype] = counts.get(rtype, 0) + 1
    show(", ".join(f"{n} {t}" for t, n in sorted(counts.items())))

    say("A mistake caught locally, before anything is sent")
    try:
        mistake: dict[str, Any] = {"status": "finished", "subject": {"reference": "Patient/x"}}  # bad status, no code
        clinik.create(Observation.model_construct(**mistake))
    except LocalValidationError as exc:
        for issue in exc.issues:
            if issue.is_error:
                show(f"{issue.path}: {issue.message}" + (f" [{issue.key}]" if issue.key else ""))

    say("A typed error from the gateway")
    try:
        clinik.read(Patient, "does-not-exist")
    except NotFoundError as exc:
        show(f"{type(exc).__name__}: {exc.status} {exc.code}, request id {exc.request_id}")

    print(f"\nDone. Next: {install_advice()}", file=out)
    print(
        "Then set CLINIK_API_KEY (and CLINIK_BASE_URL if not https://api.clinikapi.com) and run the same code.",
        file=out,
    )


def install_advice() -> str:
    """How to install clinikfhir in another environment: it is not on PyPI yet, so from its repository.

    When this copy runs from a source checkout (an editable install), the advice names that checkout."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "clinikfhir"' in pyproject.read_text(encoding="utf-8"):
        return f"clinikfhir is not on PyPI yet; install it in your project from this checkout: pip install '{root}'"
    return (
        "clinikfhir is not on PyPI yet; install it in your project from a clone of its repository: "
        "pip install /path/to/clinikfhir (or pip install 'clinikfhir @ git+<repository URL>')"
    )
