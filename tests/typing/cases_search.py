"""Typing cases for the search builder: the marked lines must fail in both mypy and pyright (a
misspelled parameter, an illegal modifier or prefix, an impossible chain, an unknown sort key, an
unbound execution); every other line must type-check, with exact result types. Never executed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from typing import Any, assert_type

from clinikfhir import AsyncClinik, Clinik
from clinikfhir._generated.search_mixin import SearchMixin
from clinikfhir.bundle import Page
from clinikfhir.models import GenericResource, Observation, Patient
from clinikfhir.search import ObservationParams, ObservationQuery, PatientQuery, Prefixed, QuantityValue, Query


def standalone() -> None:
    q = ObservationQuery().code("8867-4").date.ge("2024-01-01").sort("-date").count(50)
    assert_type(q, ObservationQuery[None])
    assert_type(q.query_string(), str)
    assert_type(ObservationQuery().subject.Patient.name("Smith"), ObservationQuery[None])
    assert_type(ObservationQuery().subject.Patient.organization.Organization.name("x"), ObservationQuery[None])
    assert_type(PatientQuery().has(ObservationParams, "patient").code("x"), PatientQuery[None])
    assert_type(PatientQuery().id_("1").last_updated_.gt("2024"), PatientQuery[None])
    ObservationQuery().cdoe("8867-4")  # expect-type-error
    ObservationQuery().date.contains("2024")  # expect-type-error
    PatientQuery().name.ge("Smith")  # expect-type-error
    _ = ObservationQuery().subject.Practitioner  # expect-type-error
    ObservationQuery().sort("-nonsense")  # expect-type-error
    ObservationQuery().include("code")  # expect-type-error
    assert_type(PatientQuery().include("general-practitioner", "Practitioner", iterate=True), PatientQuery[None])
    PatientQuery().include("organization", "Medication")  # expect-type-error
    ObservationQuery().subject.typed("Practitioner", "1")  # expect-type-error
    ObservationQuery().code.exact("x")  # expect-type-error
    ObservationQuery().date(42)  # expect-type-error
    ObservationQuery().get()  # expect-type-error
    ObservationQuery().summary("everything")  # expect-type-error
    cvq = ObservationQuery().code_value_quantity((("http://loinc.org", "8480-6"), QuantityValue(120, prefix="gt")))
    assert_type(cvq, ObservationQuery[None])
    assert_type(ObservationQuery().code_value_date(("x", Prefixed("ge", "2024"))), ObservationQuery[None])
    ObservationQuery().code_value_quantity(("8480-6", "a lot"))  # expect-type-error
    ObservationQuery().code_value_quantity(("8480-6",))  # expect-type-error


def sync_bound(clinik: Clinik) -> None:
    q = ObservationQuery(clinik).code("8867-4")
    assert_type(q, ObservationQuery[Clinik])
    assert_type(q.get(), Page[Observation])
    assert_type(q.get(post=True), Page[Observation])
    assert_type(q.iter(), Iterator[Observation])
    assert_type(q.first(), Observation | None)
    assert_type(q.count(), int)
    assert_type(q.count(10), ObservationQuery[Clinik])


async def async_bound(clinik: AsyncClinik) -> None:
    q = PatientQuery(clinik).name("Smith")
    pending = q.get()
    _ = assert_type(pending, Coroutine[Any, Any, Page[Patient]])
    pending.close()
    assert_type(await q.get(), Page[Patient])
    assert_type(q.iter(), AsyncIterator[Patient])
    assert_type(await q.first(), Patient | None)
    assert_type(await q.count(), int)
    for _ in q.iter():  # expect-type-error
        pass


class MyClient(SearchMixin):
    """A minimal sync executor: what the mixin's overloads are checked against."""

    def _execute_search(
        self,
        model: type[Any],
        params: Sequence[tuple[str, str]],
        *,
        post: bool = False,
        resource_type: str | None = None,
    ) -> Page[Any]:
        raise NotImplementedError

    def _next_page(self, page: Page[Any]) -> Page[Any] | None:
        raise NotImplementedError


def mixin(client: MyClient) -> None:
    assert_type(client.search(Observation), ObservationQuery[MyClient])
    assert_type(client.search("Patient").name("x"), PatientQuery[MyClient])
    assert_type(client.search(Observation).code("x").get(), Page[Observation])
    assert_type(client.search(Observation, {"code": "x"}), ObservationQuery[MyClient])
    q: Query[Observation, MyClient] = client.search(Observation)
    assert_type(q.get(), Page[Observation])
    client.search(Observation).name("x")  # expect-type-error
    client.search("Patiant")  # expect-type-error
    assert_type(client.search.Observation, ObservationQuery[MyClient])
    assert_type(client.search.MedicinalProduct.get(), Page[GenericResource])
    _ = client.search.Obsrvation  # expect-type-error


def real_clients(clinik: Clinik) -> None:
    q = clinik.search(Observation).code("8867-4").date.ge("2024-01-01").sort("-date").count(50)
    assert_type(q, ObservationQuery[Clinik])
    assert_type(q.get(), Page[Observation])
    assert_type(q.iter(), Iterator[Observation])
    assert_type(clinik.search(Patient).has(ObservationParams, "patient").code("x").first(), Patient | None)
    clinik.search(Patient).code("x")  # expect-type-error
    fast = clinik.search.Observation.code("8867-4").date.ge("2024-01-01").sort("-date").count(50)
    assert_type(fast, ObservationQuery[Clinik])
    assert_type(clinik.search.Observation.subject.Patient.name("x").first(), Observation | None)
    clinik.search.Patient.code("x")  # expect-type-error


async def real_async_client(clinik: AsyncClinik) -> None:
    q = clinik.search(Observation).subject.Patient.name("Smith")
    assert_type(q, ObservationQuery[AsyncClinik])
    assert_type(clinik.search.Observation.subject.Patient.name("Smith"), ObservationQuery[AsyncClinik])
    assert_type(await q.get(), Page[Observation])
    assert_type(q.iter(), AsyncIterator[Observation])
    assert_type(await q.count(), int)
    _ = q.get().resources  # expect-type-error
