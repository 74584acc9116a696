"""The twelve everyday FHIR tasks, each the one line a user writes, run against the sandbox.

Sync over the in-process transport, async over real HTTP (uvicorn on 127.0.0.1). The same lines,
type-checked, are in ``tests/typing/cases_everyday.py``. Numbered as in the issue: read, create
validated, token with system, date range, chain, ``_has``, includes joined, all pages, count, patch,
transaction with ``urn:uuid``, upsert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pydantic
import pytest

from clinikfhir import (
    AsyncClinik,
    Clinik,
    JsonPatch,
    LocalValidationError,
    ServerValidationError,
    Transaction,
    ValidationFailed,
    ref,
)
from clinikfhir.errors import validation_issues
from clinikfhir.models import CodeableConcept, Coding, HumanName, Identifier, Observation, Patient
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationParams

LOINC = "http://loinc.org"
MRN = "http://hospital.example/mrn"


def _heart_rate(patient: Patient, day: int) -> Observation:
    return Observation(
        status="final",
        code=CodeableConcept(coding=[Coding(system=LOINC, code="8867-4")]),
        subject=ref(patient),
        effectiveDateTime=f"2024-03-{day:02d}T09:00:00Z",
    )


@pytest.fixture
def clinik(sandbox: Sandbox, api_key: str) -> Iterator[Clinik]:
    with Clinik(api_key, base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        yield client


@pytest.fixture
async def aclinik(served_sandbox: Sandbox, api_key: str) -> AsyncIterator[AsyncClinik]:
    async with AsyncClinik(api_key, base_url=served_sandbox.base_url) as client:
        yield client


def test_the_twelve_everyday_tasks_sync(clinik: Clinik) -> None:
    # 2. create, validated locally first
    p = clinik.create(
        Patient(name=[HumanName(family="Smith", given=["Ann"])], identifier=[Identifier(system=MRN, value="7")])
    )
    assert p.id
    for day in range(1, 6):
        clinik.create(_heart_rate(p, day))
    # 1. read
    assert clinik.read(Patient, p.id).name == p.name
    # 3. token with system (the wire spelling)
    assert len(list(clinik.search(Observation).code("http://loinc.org|8867-4").iter())) == 5
    # 4. date range
    assert len(clinik.search(Observation).date.ge("2024-03-02").date.lt("2024-03-04").page()) == 2
    # 5. chain
    assert len(list(clinik.search(Observation).subject.Patient.family("Smith").iter())) == 5
    # 6. _has
    assert clinik.search(Patient).has(ObservationParams, "subject").code("8867-4").one().id == p.id
    # 7. includes joined to their matches, no second request
    joined = clinik.search(Observation).include("subject").page().joined(lambda o: o.subject, Patient)
    assert {pt.id for _, pt in joined if pt} == {p.id}
    # 8. all pages
    assert [len(pg) for pg in clinik.search(Observation).page_size(2).pages()] == [2, 2, 1]
    # 9. count
    assert clinik.search(Observation).code("http://loinc.org|8867-4").count() == 5
    # 10. patch (typed by the model)
    assert clinik.patch(Patient, p.id, JsonPatch(Patient).add("/gender", "female")).gender == "female"
    # 11. transaction with urn:uuid
    tx = Transaction()
    obs = _heart_rate(p, 9).model_copy(update={"subject": {"reference": tx.create(Patient(gender="male"))}})
    tx.create(obs)
    assert [e.status_code for e in clinik.transaction(tx)] == [201, 201]
    # 12. upsert (conditional update from the typed builder)
    mrn7 = clinik.search(Patient).identifier((MRN, "7"))
    assert clinik.upsert(Patient(identifier=[Identifier(system=MRN, value="7")], active=True), match=mrn7).id == p.id
    assert clinik.read(Patient, p.id).active is True
    # resolve a reference, conditional delete
    assert clinik.resolve(clinik.search(Observation).sort("date").first().subject, Patient).id == p.id  # type: ignore[union-attr, arg-type]
    clinik.delete(Patient, match=clinik.search(Patient).gender("male"))
    assert clinik.search(Patient).gender("male").count() == 0


async def test_the_twelve_everyday_tasks_async(aclinik: AsyncClinik) -> None:
    clinik = aclinik
    p = await clinik.create(
        Patient(name=[HumanName(family="Jones", given=["Bo"])], identifier=[Identifier(system=MRN, value="8")])
    )
    assert p.id
    for day in range(1, 6):
        await clinik.create(_heart_rate(p, day))
    assert (await clinik.read(Patient, p.id)).name == p.name
    assert len([o async for o in clinik.search(Observation).code("http://loinc.org|8867-4").iter()]) == 5
    assert len(await clinik.search(Observation).date.ge("2024-03-02").date.lt("2024-03-04").page()) == 2
    assert len([o async for o in clinik.search(Observation).subject.Patient.family("Jones").iter()]) == 5
    assert (await clinik.search(Patient).has(ObservationParams, "subject").code("8867-4").one()).id == p.id
    joined = (await clinik.search(Observation).include("subject").page()).joined(lambda o: o.subject, Patient)
    assert {pt.id for _, pt in joined if pt} == {p.id}
    assert [len(pg) async for pg in clinik.search(Observation).page_size(2).pages()] == [2, 2, 1]
    assert await clinik.search(Observation).code("http://loinc.org|8867-4").count() == 5
    assert (await clinik.patch(Patient, p.id, JsonPatch(Patient).add("/gender", "female"))).gender == "female"
    tx = Transaction()
    new = tx.create(Patient(gender="male"))
    tx.create(_heart_rate(p, 9).model_copy(update={"subject": {"reference": new}}))
    response = await clinik.transaction(tx)
    assert (await clinik.resolve(new, Patient, within=response)).gender == "male"
    mrn8 = clinik.search(Patient).identifier((MRN, "8"))
    assert (
        await clinik.upsert(Patient(identifier=[Identifier(system=MRN, value="8")], active=True), match=mrn8)
    ).id == p.id
    patched = await clinik.patch(Patient, match=mrn8, patch=JsonPatch(Patient).replace("/active", False))
    assert patched.active is False


async def test_validation_failures_share_one_base_and_one_issue_shape(aclinik: AsyncClinik) -> None:
    caught: list[ValidationFailed | pydantic.ValidationError] = []
    attempts = [
        lambda: Patient(birthDate="not a date"),  # pydantic, at construction
        lambda: aclinik.create(Patient(gender="x"), validate=True),  # local validation, before sending
        lambda: aclinik.create(Patient(gender="x"), validate=False),  # the server's 422
    ]
    for attempt in attempts:
        try:
            result = attempt()
            if hasattr(result, "__await__"):
                await result  # type: ignore[misc]
        except (ValidationFailed, pydantic.ValidationError) as exc:
            caught.append(exc)
    assert [type(e) for e in caught[1:]] == [LocalValidationError, ServerValidationError]
    assert isinstance(caught[0], pydantic.ValidationError)
    for exc in caught:
        issues = validation_issues(exc)
        assert issues, type(exc)
        assert any(i.is_error for i in issues)
    assert validation_issues(caught[0])[0].path == "Patient.birthDate"
    assert any("gender" in i.path for i in validation_issues(caught[1]))
    assert all("not a date" not in i.message for e in caught for i in validation_issues(e))
