"""The everyday search surface, run against the sandbox: page size vs count, one(), first(), typed
and checked sort, typed ``_has``, ``q.pages()``, partial pages, and matches joined to their includes.

No mocks: the in-process sandbox answers; requests are observed through httpx event hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from clinikfhir import AsyncClinik, Clinik, InvalidArgumentError, MultipleMatchesError, NoMatchError
from clinikfhir.bundle import Page, PartialPage
from clinikfhir.models import CodeableConcept, Coding, HumanName, Observation, Patient, Practitioner, Reference
from clinikfhir.refs import ref
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationParams, ObservationQuery, PartialQuery, PatientQuery

LOINC = "http://loinc.org"


@pytest.fixture
def sent(sandbox: Sandbox) -> list[httpx.Request]:
    return []


@pytest.fixture
def clinik(sandbox: Sandbox, api_key: str, sent: list[httpx.Request]) -> Iterator[Clinik]:
    http = httpx.Client(transport=sandbox.transport(), event_hooks={"request": [sent.append]})
    with Clinik(api_key, base_url=sandbox.base_url, http_client=http) as client:
        yield client
    http.close()


@pytest.fixture
async def aclinik(sandbox: Sandbox, api_key: str) -> AsyncIterator[AsyncClinik]:
    client = AsyncClinik(api_key, base_url=sandbox.base_url, transport=sandbox.async_transport())
    try:
        yield client
    finally:
        await client.close()


def _obs(subject: Patient, code: str, day: int) -> Observation:
    return Observation(
        status="final",
        code=CodeableConcept(coding=[Coding(system=LOINC, code=code)]),
        subject=ref(subject),
        effectiveDateTime=f"2024-02-{day:02d}T08:00:00Z",
    )


@pytest.fixture
def seeded(clinik: Clinik) -> dict[str, Patient]:
    ann = clinik.create(Patient(name=[HumanName(family="Lee", given=["Ann"])], gender="female"))
    bob = clinik.create(Patient(name=[HumanName(family="Lee", given=["Bob"])], gender="male"))
    for day in (1, 2, 3):
        clinik.create(_obs(ann, "8867-4", day))
    clinik.create(_obs(bob, "8867-4", 9))
    return {"ann": ann, "bob": bob}


# ------------------------------------------------------------------------------ page size / count


def test_page_size_and_count_are_two_names() -> None:
    assert ObservationQuery().page_size(50).params() == (("_count", "50"),)
    with pytest.warns(DeprecationWarning, match="page_size"):
        old = ObservationQuery().count(50)
    assert old.params() == (("_count", "50"),)
    with pytest.raises(InvalidArgumentError, match="page size"):
        ObservationQuery().page_size(-1)


def test_count_asks_for_the_number_of_matches(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    assert clinik.search(Observation).code("http://loinc.org|8867-4").page_size(1).count() == 4


def test_get_is_a_deprecated_spelling_of_page(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    q = clinik.search(Patient).family("Lee")
    with pytest.warns(DeprecationWarning, match="page\\(\\)"):
        old = q.get()
    assert [p.id for p in old] == [p.id for p in q.page()]


# ----------------------------------------------------------------------------------- one / first


def test_one_returns_the_only_match_or_raises_typed_errors(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    assert clinik.search(Patient).given("Ann").one().id == seeded["ann"].id
    with pytest.raises(NoMatchError, match="no Patient matches"):
        clinik.search(Patient).given("Zed").one()
    with pytest.raises(MultipleMatchesError, match="more than one Patient"):
        clinik.search(Patient).family("Lee").one()
    # both are LookupErrors, so `except LookupError` works too
    assert issubclass(NoMatchError, LookupError)
    assert issubclass(MultipleMatchesError, LookupError)


async def test_one_async(aclinik: AsyncClinik) -> None:
    ann = await aclinik.create(Patient(name=[HumanName(family="Async", given=["Ann"])]))
    assert (await aclinik.search(Patient).family("Async").one()).id == ann.id
    await aclinik.create(Patient(name=[HumanName(family="Async", given=["Bob"])]))
    with pytest.raises(MultipleMatchesError):
        await aclinik.search(Patient).family("Async").one()


def test_first_keeps_the_callers_page_size(
    clinik: Clinik, seeded: dict[str, Patient], sent: list[httpx.Request]
) -> None:
    q = clinik.search(Observation).sort("date")
    first = q.first()
    assert first is not None
    assert str(first.effectiveDateTime)[:10] == "2024-02-01"
    assert sent[-1].url.params["_count"] == "1"
    assert q.page_size(3).first() == first
    assert sent[-1].url.params["_count"] == "3"
    assert clinik.search(Patient).given("Zed").first() is None


# ------------------------------------------------------------------------------------------ sort


def test_sort_takes_typed_keys_from_the_parameters() -> None:
    q = ObservationQuery()
    assert q.sort(q.date.desc(), q.status, q.code.asc()).params() == (("_sort", "-date,status,code"),)
    assert q.sort("-date", q.subject).params() == (("_sort", "-date,subject"),)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda q: q.sort("value_quantity"), "sort('value-quantity') or sort(q.value_quantity.asc())"),
        (lambda q: q.sort("-value_quantity"), "sort('-value-quantity') or sort(q.value_quantity.desc())"),
        (lambda q: q.sort("colour"), "Observation has no search parameter 'colour'"),
        (lambda q: q.sort("code-value-quantity"), "cannot sort by the composite parameter"),
        (lambda q: q.sort(PatientQuery().name), "a Patient parameter cannot sort a search on Observation"),
        (lambda q: q.sort(q.subject.Patient.name.desc()), "chained or _has parameter"),
        (lambda q: q.sort(), "at least one key"),
        (lambda q: q.sort(3), "got int"),
    ],
)
def test_sort_keys_are_checked_at_run_time(make: object, needle: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        make(ObservationQuery())  # type: ignore[operator]
    assert needle in str(info.value)


def test_typed_sort_orders_results(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    q = clinik.search(Observation)
    days = [str(o.effectiveDateTime)[:10] for o in q.sort(q.date.desc()).iter()]
    assert days == ["2024-02-09", "2024-02-03", "2024-02-02", "2024-02-01"]


# ------------------------------------------------------------------------------------------ _has


def test_has_checks_the_link_and_names_the_good_ones() -> None:
    assert PatientQuery().has(ObservationParams, "subject").code("1234-5").params() == (
        ("_has:Observation:subject:code", "1234-5"),
    )
    with pytest.raises(InvalidArgumentError) as info:
        PatientQuery().has(ObservationParams, "subjct")  # type: ignore[arg-type]
    assert "its links to Patient are: focus, patient, performer, subject" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="cannot point at a Patient"):
        PatientQuery().has(ObservationParams, "specimen")


def test_has_finds_patients_through_their_observations(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    found = clinik.search(Patient).has(ObservationParams, "subject").date.ge("2024-02-05").one()
    assert found.id == seeded["bob"].id


# ----------------------------------------------------------------------------------------- pages


def test_pages_follows_next_links(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    pages = list(clinik.search(Observation).sort("date").page_size(3).pages())
    assert [len(p) for p in pages] == [3, 1]
    assert all(isinstance(p, Page) for p in pages)


async def test_pages_async(aclinik: AsyncClinik) -> None:
    for given in ("A", "B", "C"):
        await aclinik.create(Patient(name=[HumanName(family="Paged", given=[given])]))
    sizes = [len(p) async for p in aclinik.search(Patient).family("Paged").page_size(2).pages()]
    assert sizes == [2, 1]


# --------------------------------------------------------------------------------------- partial


def test_elements_and_summary_make_partial_queries_and_pages(clinik: Clinik, seeded: dict[str, Patient]) -> None:
    q = clinik.search(Patient).family("Lee").elements("id", "gender")
    assert isinstance(q, PartialQuery)
    assert q.params() == (("family", "Lee"), ("_elements", "id,gender"))
    page = q.page()
    assert isinstance(page, PartialPage)
    assert not isinstance(page, Page)
    assert {p.gender for p in page} == {"female", "male"}
    assert all(p.name is None for p in page)  # left out by the server
    assert len(list(q.iter())) == 2
    assert q.count() == 2
    assert isinstance(clinik.search(Patient).summary("true"), PartialQuery)
    whole = clinik.search(Patient).summary("false")
    assert isinstance(whole, PatientQuery)


# --------------------------------------------------------------------------- includes, joined


def test_matches_are_joined_to_their_included_resources_without_a_request(
    clinik: Clinik, seeded: dict[str, Patient], sent: list[httpx.Request]
) -> None:
    page = clinik.search(Observation).sort("date").include("subject").page()
    requests = len(sent)
    joined = page.joined(lambda o: o.subject, Patient)
    assert [(o.id is not None, p.id if p else None) for o, p in joined] == [
        (True, seeded["ann"].id),
        (True, seeded["ann"].id),
        (True, seeded["ann"].id),
        (True, seeded["bob"].id),
    ]
    first = page[0]
    patient = page.resolve(first.subject, Patient)
    assert patient is not None
    assert patient.name is not None
    assert patient.name[0].given == ["Ann"]
    assert len(sent) == requests  # no request was made
    # not included: None; wrong type: refused
    bare = clinik.search(Observation).page()
    assert bare.resolve(bare[0].subject, Patient) is None
    with pytest.raises(InvalidArgumentError, match="points at a Patient, not a Practitioner"):
        page.resolve(first.subject, Practitioner)
    assert page.resolve(None, Patient) is None
    bob = page.resolve(Reference(reference=f"Patient/{seeded['bob'].id}"), Patient)
    assert bob is not None
    assert bob.id == seeded["bob"].id
