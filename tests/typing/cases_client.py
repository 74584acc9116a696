"""Typing cases for Clinik and AsyncClinik: results are typed by the model passed in; a wrong model,
a misspelled keyword or a sync/async mix-up is a type error. Never executed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

import httpx
from fhir.resources.R4B.patient import Patient as R4BPatient

from clinikfhir import AsyncClinik, BundleResponse, Clinik, JsonPatch, Page, ResponseMeta, Transaction
from clinikfhir.errors import ApiError, RateLimitError
from clinikfhir.models import CapabilityStatement, Observation, OperationOutcome, Patient, Resource


def construction() -> None:
    assert_type(Clinik("clk_test_x", base_url="http://localhost", timeout=5, retries=3), Clinik)
    assert_type(AsyncClinik(transport=httpx.AsyncHTTPTransport()), AsyncClinik)
    assert_type(Clinik(reject_warnings=True, check_search_capabilities=True), Clinik)
    Clinik(api_kye="clk_test_x")  # expect-type-error
    Clinik(timeout="30")  # expect-type-error
    AsyncClinik(transport=httpx.HTTPTransport())  # expect-type-error
    Clinik(http_client=httpx.AsyncClient())  # expect-type-error


def sync_operations(clinik: Clinik, patient: Patient, obs: Observation) -> None:
    assert_type(clinik.read(Patient, "p1"), Patient)
    assert_type(clinik.read(Observation, "o1"), Observation)
    assert_type(clinik.read(Patient, "p1", strict=True), Patient)
    assert_type(clinik.history(Patient, "p1", count=10, strict=False), Page[Patient])
    assert_type(clinik.vread(Patient, "p1", "2"), Patient)
    assert_type(clinik.create(patient), Patient)
    assert_type(clinik.create(obs, validate=False, if_none_exist="identifier=x|1"), Observation)
    assert_type(clinik.update(patient), Patient)
    assert_type(clinik.update(obs, if_match=False), Observation)
    assert_type(clinik.patch(Patient, "p1", JsonPatch(Patient).replace("/gender", "female")), Patient)
    assert_type(clinik.patch(Observation, "o1", [{"op": "remove", "path": "/note"}]), Observation)
    assert_type(clinik.delete(Patient, "p1"), None)
    assert_type(clinik.history(Patient, "p1"), Page[Patient])
    assert_type(clinik.iter_search(Observation, {"code": "8867-4"}), Iterator[Observation])
    assert_type(clinik.pages(clinik.history(Patient)), Iterator[Page[Patient]])
    assert_type(clinik.search(Patient).get(), Page[Patient])
    assert_type(clinik.everything(Patient, "p1"), Page[Resource])
    assert_type(clinik.validate(patient), OperationOutcome)
    assert_type(clinik.capabilities(), CapabilityStatement)
    assert_type(clinik.transaction([patient, obs]), BundleResponse)
    assert_type(clinik.batch(Transaction()), BundleResponse)
    assert_type(clinik.request("GET", "/Patient/p1"), Resource | None)
    assert_type(clinik.operation("$everything", model=Patient, id="p1", method="GET"), Resource | None)
    assert_type(clinik.operation("$validate", model=Patient, result=OperationOutcome), OperationOutcome)
    assert_type(clinik.last_response, ResponseMeta | None)

    wrong: Observation = clinik.read(Patient, "p1")  # expect-type-error
    # the typed classes are clinikfhir.models' (the same classes at run time); fhir.resources' own
    # import is not what the type checker knows as a model
    clinik.read(R4BPatient, "p1")  # expect-type-error
    clinik.read(Patient, idd="p1")  # expect-type-error
    clinik.read("Patient", "p1")  # expect-type-error
    clinik.read(Patient, 42)  # expect-type-error
    clinik.read(Patient, "p1", strict="yes")  # expect-type-error
    clinik.create(Patient)  # expect-type-error
    clinik.create(patient, validat=False)  # expect-type-error
    clinik.update(patient, if_match=3)  # expect-type-error
    clinik.patch(Patient, "p1", "replace gender")  # expect-type-error
    clinik.delete(patient, "p1")  # expect-type-error
    clinik.operation("$everything", model=Patient, method="PUT")  # expect-type-error
    _ = clinik.history(Patient, "p1").resources[0].status  # expect-type-error
    _ = wrong


def pages(page: Page[Observation], response: BundleResponse) -> None:
    assert_type(page.resources, list[Observation])
    assert_type(page[0], Observation)
    assert_type(page.included(Patient), list[Patient])
    assert_type(page.of_type(Patient), list[Patient])
    assert_type(page.total, int | None)
    assert_type(page.links, dict[str, str])
    assert_type(page.next_url, str | None)
    assert_type(page.meta, ResponseMeta)
    assert_type(response.resource("urn:uuid:1", Patient), Patient)
    assert_type(response.resource(0, Observation), Observation)
    _ = page.resources[0].gender  # expect-type-error


def errors(exc: ApiError, limited: RateLimitError) -> None:
    assert_type(exc.status, int)
    assert_type(exc.code, str)
    assert_type(exc.request_id, str)
    assert_type(limited.retry_after, float | None)
    _ = exc.retry_after  # expect-type-error


async def async_operations(clinik: AsyncClinik, patient: Patient) -> None:
    assert_type(await clinik.read(Patient, "p1"), Patient)
    assert_type(await clinik.create(patient), Patient)
    assert_type(await clinik.update(patient), Patient)
    assert_type(await clinik.patch(Patient, "p1", JsonPatch().remove("/active")), Patient)
    assert_type(await clinik.delete(Patient, "p1"), None)
    assert_type(await clinik.history(Patient, "p1"), Page[Patient])
    assert_type(await clinik.everything(Patient, "p1"), Page[Resource])
    assert_type(await clinik.validate(patient), OperationOutcome)
    assert_type(await clinik.capabilities(), CapabilityStatement)
    assert_type(await clinik.transaction([patient]), BundleResponse)
    assert_type(await clinik.request("DELETE", "/Patient/p1"), Resource | None)
    assert_type(await clinik.search(Patient).get(), Page[Patient])
    assert_type(clinik.iter_search(Patient), AsyncIterator[Patient])
    async for p in clinik.iter_search(Patient):
        assert_type(p, Patient)
    async with clinik as same:
        assert_type(same, AsyncClinik)

    not_awaited: Patient = clinik.read(Patient, "p1")  # expect-type-error
    for _q in clinik.iter_search(Patient):  # expect-type-error
        pass
    with clinik:  # expect-type-error
        pass
    await clinik.read(Patient, id_="p1")  # expect-type-error
    _ = not_awaited
