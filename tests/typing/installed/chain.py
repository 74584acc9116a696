"""Checked against the installed wheel by test_installed_wheel.py (never executed): every step of a
search chain and of a read has the type in its ``# reveal:`` comment, in mypy and pyright alike, and
each line marked ``# expect-type-error`` is an error in both (and no other line is)."""

from __future__ import annotations

from datetime import date
from typing import reveal_type

from clinikfhir import AsyncClinik, Clinik
from clinikfhir.models import CodeableConcept, Coding, Encounter, Observation, Patient, PatientContact, Quantity
from clinikfhir.search import ObservationQuery


def chain(clinik: Clinik) -> None:
    reveal_type(clinik.search)  # reveal: Search[Clinik]
    reveal_type(clinik.search.Observation)  # reveal: ObservationQuery[Clinik]
    reveal_type(clinik.search.Observation.date)  # reveal: DateParam[ObservationQuery[Clinik]]
    reveal_type(clinik.search.Observation.date.ge("2024-01-01"))  # reveal: ObservationQuery[Clinik]
    reveal_type(clinik.search.Observation.subject)  # reveal: ObservationSubjectRef[ObservationQuery[Clinik]]
    reveal_type(clinik.search.Observation.subject.Patient)  # reveal: PatientParams[ObservationQuery[Clinik]]
    reveal_type(clinik.search.Observation.subject.Patient.name("Smith"))  # reveal: ObservationQuery[Clinik]
    reveal_type(clinik.search.Observation.code("8867-4").page())  # reveal: Page[Observation]
    reveal_type(clinik.search.Observation.first())  # reveal: Observation | None
    reveal_type(clinik.search(Observation))  # reveal: ObservationQuery[Clinik]
    reveal_type(ObservationQuery())  # reveal: ObservationQuery[None]
    reveal_type(clinik.read(Patient, "1"))  # reveal: Patient


async def async_chain(clinik: AsyncClinik) -> None:
    reveal_type(clinik.search.Patient.name("Smith"))  # reveal: PatientQuery[AsyncClinik]
    reveal_type(await clinik.search.Patient.name("Smith").page())  # reveal: Page[Patient]


def mistakes(clinik: Clinik, obs: Observation) -> None:
    clinik.search.Observation.cdoe("8867-4")  # expect-type-error
    clinik.search.Observation.date.contains("2024")  # expect-type-error
    _ = clinik.search.Obsrvation  # expect-type-error
    _ = clinik.search.Observation.subject.Practitioner  # expect-type-error
    clinik.search.Observation.sort("-nonsense")  # expect-type-error
    clinik.search.Patient.name.ge("Smith")  # expect-type-error
    wrong: Observation = clinik.read(Patient, "1")  # expect-type-error
    Patient(gender="x")  # expect-type-error
    obs.status = "done"  # expect-type-error
    Encounter(status="finished", klass=Coding(code="AMB"))  # expect-type-error
    print(wrong)


def nested_mistakes(p: Patient, obs: Observation) -> None:
    assert p.contact is not None
    p.contact[0].gender = "x"  # expect-type-error
    Patient(contact=[PatientContact(gender="x")])  # expect-type-error
    Quantity(comparator="=")  # expect-type-error
    assert obs.component is not None
    quantity = obs.component[0].valueQuantity
    assert quantity is not None
    quantity.comparator = "~"  # expect-type-error
    quantity.comparator = "<="
    p.contact[0].gender = "other"


def models() -> None:
    p = Patient(gender="female", birthDate="1990-01-15")  # R4 accepts the string form of a date
    reveal_type(p.birthDate)  # reveal: date | str | None
    reveal_type(Patient(birthDate=date(1990, 1, 15)).birthDate)  # reveal: date | str | None
    obs = Observation(status="final", code=CodeableConcept(text="x"), effectiveDateTime="2024")
    reveal_type(obs.issued)  # reveal: datetime | str | None
    obs.status = "amended"
    e = Encounter(status="finished", class_fhir=Coding(code="AMB"))  # the keyword the model accepts
    reveal_type(e.class_fhir)  # reveal: Coding


def nested(p: Patient, obs: Observation) -> None:
    assert p.contact is not None
    reveal_type(p.contact[0])  # reveal: PatientContact
    reveal_type(p.contact[0].name)  # reveal: HumanName | None
    assert obs.component is not None
    reveal_type(obs.component[0].valueQuantity)  # reveal: Quantity | None
    reveal_type(p.contact[0].period)  # reveal: Period | None
