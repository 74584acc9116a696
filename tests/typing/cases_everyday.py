"""Typing cases for the everyday tasks (issue 11): each task's one line type-checks with its exact
result type, sync and async; the marked lines (a misspelled ``_has`` link, a sort key of another
type, a patch or a condition of the wrong model, a partial page where a whole one is expected) must
fail in both mypy and pyright. Never executed (the same lines run in tests/test_everyday.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

from clinikfhir import AsyncClinik, BundleResponse, Clinik, JsonPatch, Transaction, ref
from clinikfhir.bundle import Page, PartialPage
from clinikfhir.models import HumanName, Identifier, Observation, Patient, Reference
from clinikfhir.search import ObservationParams, ObservationQuery, PartialQuery, PatientQuery

MRN = "http://hospital.example/mrn"


def whole(page: Page[Patient]) -> None: ...


def sync_tasks(clinik: Clinik, pid: str) -> None:
    assert_type(clinik.read(Patient, pid), Patient)
    assert_type(clinik.create(Patient(name=[HumanName(family="Smith")])), Patient)
    assert_type(clinik.search(Observation).code("http://loinc.org|8867-4"), ObservationQuery[Clinik])
    assert_type(clinik.search(Observation).date.ge("2024-03-02").date.lt("2024-03-04").page(), Page[Observation])
    assert_type(clinik.search(Observation).subject.Patient.family("Smith").iter(), Iterator[Observation])
    assert_type(clinik.search(Patient).has(ObservationParams, "subject").code("8867-4").one(), Patient)
    page = clinik.search(Observation).include("subject").page()
    assert_type(page.joined(lambda o: o.subject, Patient), list[tuple[Observation, Patient | None]])
    assert_type(page.resolve(page[0].subject, Patient), Patient | None)
    assert_type(clinik.search(Observation).page_size(2).pages(), Iterator[Page[Observation]])
    assert_type(clinik.search(Observation).count(), int)
    assert_type(clinik.patch(Patient, pid, JsonPatch(Patient).add("/gender", "female")), Patient)
    tx = Transaction()
    assert_type(tx.create(Patient()), str)
    assert_type(clinik.transaction(tx), BundleResponse)
    mrn = clinik.search(Patient).identifier((MRN, "7"))
    assert_type(clinik.upsert(Patient(identifier=[Identifier(system=MRN, value="7")]), match=mrn), Patient)
    assert_type(clinik.create(Patient(), if_none_exist=mrn), Patient)
    assert_type(clinik.patch(Patient, match=mrn, patch=JsonPatch(Patient).add("/active", True)), Patient)
    assert_type(clinik.delete(Patient, match=mrn), None)
    assert_type(clinik.resolve(Reference(reference=f"Patient/{pid}"), Patient), Patient)
    assert_type(ref(Patient(id=pid)), Reference)
    q = clinik.search(Observation)
    assert_type(q.sort(q.date.desc(), q.status, "-code"), ObservationQuery[Clinik])
    assert_type(clinik.search(Patient).elements("id"), PartialQuery[Patient, Clinik])
    assert_type(clinik.search(Patient).elements("id").page(), PartialPage[Patient])
    assert_type(clinik.search(Patient).summary("false"), PatientQuery[Clinik])


def sync_mistakes(clinik: Clinik, pid: str) -> None:
    PatientQuery().has(ObservationParams, "subjct")  # expect-type-error
    q = clinik.search(Observation)
    q.sort(PatientQuery().name)  # expect-type-error
    q.sort(q.code_value_quantity)  # expect-type-error
    clinik.patch(Patient, pid, JsonPatch(Observation).add("/status", "final"))  # expect-type-error
    clinik.upsert(Patient(), match=clinik.search(Observation).code("x"))  # expect-type-error
    clinik.create(Patient(), if_none_exist=clinik.search(Observation).code("x"))  # expect-type-error
    clinik.delete(Patient, match=clinik.search(Observation).code("x"))  # expect-type-error
    whole(clinik.search(Patient).elements("id").page())  # expect-type-error
    whole(clinik.search(Patient).page())


async def async_tasks(clinik: AsyncClinik, pid: str) -> None:
    assert_type(await clinik.read(Patient, pid), Patient)
    assert_type(await clinik.search(Patient).has(ObservationParams, "subject").code("x").one(), Patient)
    assert_type(clinik.search(Observation).page_size(2).pages(), AsyncIterator[Page[Observation]])
    assert_type(await clinik.search(Observation).count(), int)
    mrn = clinik.search(Patient).identifier((MRN, "7"))
    assert_type(await clinik.upsert(Patient(), match=mrn), Patient)
    response = await clinik.transaction(Transaction([Patient()]))
    assert_type(await clinik.resolve("urn:uuid:x", Patient, within=response), Patient)
    assert_type(await clinik.search(Patient).elements("id").page(), PartialPage[Patient])
    obs_patch = JsonPatch(Observation).add("/status", "final")
    assert_type(await clinik.patch(Observation, pid, obs_patch), Observation)
