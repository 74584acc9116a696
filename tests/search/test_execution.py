"""Queries executed for real: bound to Clinik / AsyncClinik talking to the in-process sandbox.

Covers get / iter (following next links) / first / count / POST _search, chaining, the mixin's
``search(Model)`` and the capability check (explicit and automatic). No mocks: the sandbox's search
engine answers every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from clinikfhir import AsyncClinik, Clinik
from clinikfhir._generated.search_mixin import SearchMixin
from clinikfhir.models import CodeableConcept, Coding, GenericResource, HumanName, Observation, Patient, Reference
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationQuery, PatientQuery, UnsupportedSearchError

LOINC = "http://loinc.org"


MixedClinik = Clinik  # the client inherits the generated SearchMixin


@pytest.fixture
def clinik(sandbox: Sandbox, api_key: str) -> Iterator[MixedClinik]:
    with MixedClinik(api_key, base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        yield client


@pytest.fixture
async def aclinik(sandbox: Sandbox, api_key: str) -> AsyncIterator[AsyncClinik]:
    client = AsyncClinik(api_key, base_url=sandbox.base_url, transport=sandbox.async_transport())
    try:
        yield client
    finally:
        await client.close()


def _observation(subject: str, code: str, day: int) -> Observation:
    return Observation(
        status="final",
        code=CodeableConcept(coding=[Coding(system=LOINC, code=code)]),
        subject=Reference(reference=subject),
        effectiveDateTime=f"2024-01-{day:02d}T10:00:00Z",
    )


@pytest.fixture
def seeded(clinik: MixedClinik) -> dict[str, str]:
    smith = clinik.create(Patient(name=[HumanName(family="Smith", given=["John"])], gender="male"))
    jones = clinik.create(Patient(name=[HumanName(family="Jones")], gender="female"))
    assert smith.id
    assert jones.id
    for day in range(1, 6):
        clinik.create(_observation(f"Patient/{smith.id}", "8867-4", day))
    clinik.create(_observation(f"Patient/{jones.id}", "8867-4", 20))
    clinik.create(_observation(f"Patient/{smith.id}", "8310-5", 3))
    return {"smith": smith.id, "jones": jones.id}


def test_get_returns_a_typed_first_page(clinik: MixedClinik, seeded: dict[str, str]) -> None:
    page = clinik.search(Observation).code((LOINC, "8867-4")).date.ge("2024-01-03").sort("-date").page()
    dates = [o.effectiveDateTime for o in page.resources]
    assert all(isinstance(o, Observation) for o in page.resources)
    assert [str(d)[:10] for d in dates] == ["2024-01-20", "2024-01-05", "2024-01-04", "2024-01-03"]


def test_iter_follows_next_links(clinik: MixedClinik, seeded: dict[str, str]) -> None:
    q = clinik.search(Observation).code("8867-4").page_size(2)
    first_page = q.page()
    assert len(first_page.resources) == 2
    assert first_page.next_url is not None
    ids = [o.id for o in q.iter()]
    assert len(ids) == 6
    assert len(set(ids)) == 6


def test_first_and_count(clinik: MixedClinik, seeded: dict[str, str]) -> None:
    q = clinik.search(Observation).subject(f"Patient/{seeded['smith']}")
    assert q.count() == 6
    first = q.sort("date").first()
    assert isinstance(first, Observation)
    assert str(first.effectiveDateTime)[:10] == "2024-01-01"
    assert clinik.search(Observation).code("no-such-code").first() is None


def test_post_search_gives_the_same_result(clinik: MixedClinik, seeded: dict[str, str]) -> None:
    q = clinik.search(Observation).code("8867-4").sort("date")
    assert [o.id for o in q.page(post=True).resources] == [o.id for o in q.page().resources]


def test_chain_and_reverse_chain(clinik: MixedClinik, seeded: dict[str, str]) -> None:
    smiths = clinik.search(Observation).subject.Patient.family("Smith").page().resources
    assert len(smiths) == 6
    from clinikfhir.search import ObservationParams

    with_heart_rate = clinik.search(Patient).has(ObservationParams, "subject").code("8310-5").page().resources
    assert [p.id for p in with_heart_rate] == [seeded["smith"]]


def test_escaped_comma_is_data_not_or(clinik: MixedClinik, seeded: dict[str, str]) -> None:
    clinik.create(Patient(name=[HumanName(family="Smith, Jr")]))
    assert [p.name[0].family for p in clinik.search(Patient).family.exact("Smith, Jr").page().resources] == [
        "Smith, Jr"
    ]


def test_unbound_and_bound_queries_render_the_same(clinik: MixedClinik) -> None:
    assert clinik.search(Observation).code("x").query_string() == ObservationQuery().code("x").query_string()
    assert clinik.search("Observation").code("x").params() == (("code", "x"),)


def test_capability_check_explicit(clinik: MixedClinik) -> None:
    caps = clinik.capabilities()
    assert ObservationQuery().code("x").date.ge("2024").sort("-date").check(caps) == []
    problems = PatientQuery().raw("no-such-param", "1").raw("name:below", "x").check(caps)
    assert problems == [
        "no-such-param: Patient does not support the parameter no-such-param",
        "name:below: the modifier :below is not defined for string parameters",
    ]
    with pytest.raises(UnsupportedSearchError, match="no-such-param"):
        PatientQuery().raw("no-such-param", "1").ensure_supported(caps)


def test_capability_check_automatic_raises_before_sending(clinik: MixedClinik, sandbox: Sandbox) -> None:
    clinik.check_search_capabilities = True  # the client's opt-in (also a constructor keyword)
    q = clinik.search(Patient).raw("no-such-param", "1")
    with pytest.raises(UnsupportedSearchError):
        q.page()
    assert clinik.search(Patient).gender("male").page().resources == []


async def test_async_get_iter_first_count(aclinik: AsyncClinik, sandbox: Sandbox, api_key: str) -> None:
    with Clinik(api_key, base_url=sandbox.base_url, transport=sandbox.transport()) as sync:
        patient = sync.create(Patient(name=[HumanName(family="Async")]))
        for day in range(1, 4):
            sync.create(_observation(f"Patient/{patient.id}", "8867-4", day))
    assert isinstance(aclinik, SearchMixin)
    q = aclinik.search(Observation).code("8867-4").page_size(2)
    page = await q.page()
    assert len(page.resources) == 2
    assert len([o.id async for o in q.iter()]) == 3
    assert await q.count() == 3
    first = await q.sort("-date").first()
    assert first is not None
    assert str(first.effectiveDateTime)[:10] == "2024-01-03"
    assert [o.id for o in (await q.page(post=True)).resources] == [o.id for o in page.resources]


def test_over_real_http_iter_follows_next_links(served_sandbox: Sandbox, api_key: str) -> None:
    with Clinik(api_key, base_url=served_sandbox.base_url) as clinik:
        patient = clinik.create(Patient(name=[HumanName(family="Http")]))
        for day in range(1, 6):
            clinik.create(_observation(f"Patient/{patient.id}", "8867-4", day))
        q = clinik.search(Observation).subject.Patient.family("Http").sort("date").page_size(2)
        assert [str(o.effectiveDateTime)[:10] for o in q.iter()] == [f"2024-01-0{d}" for d in range(1, 6)]
        assert q.count() == 5
        assert len(q.page(post=True).resources) == 2


def _substance_protein(word: str) -> dict[str, object]:
    """An R4-only resource (not in R4B): only GenericResource can carry it."""
    return {
        "resourceType": "SubstanceProtein",
        "sequenceType": {"coding": [{"system": "http://example.org/seq", "code": "cyclic"}], "text": word},
        "numberOfSubunits": 2,
        "disulfideLinkage": ["1-5", "2-6"],
        "subunit": [{"subunit": 1, "sequence": "MKVL", "length": 4}, {"subunit": 2, "sequence": "QQR", "length": 3}],
    }


def _same_content(found: GenericResource, sent: dict[str, object], created: GenericResource) -> None:
    assert isinstance(found, GenericResource)
    assert found.resource_type == "SubstanceProtein"
    raw = found.raw
    assert raw["id"] == created.id
    assert {k: v for k, v in raw.items() if k not in ("id", "meta")} == sent  # nothing lost


def test_r4_only_types_are_searchable_through_the_builder(clinik: MixedClinik) -> None:
    sent = _substance_protein("Cyclicwordalpha")
    created = clinik.request("POST", "/SubstanceProtein", sent)
    other = clinik.request("POST", "/SubstanceProtein", _substance_protein("Otherwordbeta"))
    assert isinstance(created, GenericResource)
    assert isinstance(other, GenericResource)
    q = clinik.search("SubstanceProtein").content_("cyclicwordalpha")
    page = q.page()
    assert [r.id for r in page.resources] == [created.id]
    _same_content(page.resources[0], sent, created)
    assert [r.id for r in q.page(post=True).resources] == [created.id]
    paged = [r.id for r in clinik.search("SubstanceProtein").page_size(1).iter()]  # follows next links
    assert sorted(paged) == sorted([created.id, other.id])
    first = q.first()
    assert first is not None
    _same_content(first, sent, created)
    assert q.count() == 1
    assert clinik.search("SubstanceProtein").count() == 2


async def test_r4_only_types_are_searchable_through_the_async_builder(aclinik: AsyncClinik) -> None:
    sent = _substance_protein("Cyclicwordgamma")
    created = await aclinik.request("POST", "/SubstanceProtein", sent)
    other = await aclinik.request("POST", "/SubstanceProtein", _substance_protein("Otherworddelta"))
    assert isinstance(created, GenericResource)
    q = aclinik.search("SubstanceProtein").content_("cyclicwordgamma")
    page = await q.page()
    assert [r.id for r in page.resources] == [created.id]
    _same_content(page.resources[0], sent, created)
    assert [r.id for r in (await q.page(post=True)).resources] == [created.id]
    paged = [r.id async for r in aclinik.search("SubstanceProtein").page_size(1).iter()]  # follows next links
    assert sorted(paged) == sorted([created.id, other.id])
    first = await q.first()
    assert first is not None
    _same_content(first, sent, created)
    assert await q.count() == 1


def test_capability_check_automatic_covers_raw_searches(sandbox: Sandbox, api_key: str) -> None:
    sent: list[str] = []
    http = httpx.Client(transport=sandbox.transport(), event_hooks={"request": [lambda r: sent.append(r.url.path)]})
    with Clinik(api_key, base_url=sandbox.base_url, http_client=http, check_search_capabilities=True) as clinik:
        raw = [("no-such-param", "1")]
        with pytest.raises(UnsupportedSearchError, match="no-such-param"):
            list(clinik.search(Patient, raw).iter())
        with pytest.raises(UnsupportedSearchError, match="no-such-param"):
            clinik.search(Patient, raw).page()
        with pytest.raises(UnsupportedSearchError, match="no-such-param"):
            clinik.search(Patient, raw).page(post=True)
        with pytest.raises(UnsupportedSearchError, match="family:bogus"):
            list(clinik.search(Patient, {"family:bogus": "x"}).iter())
        assert all(path == "/v1/metadata" for path in sent)  # no search reached the wire
        assert list(clinik.search(Patient, {"gender": "male"}).iter()) == []
        assert sent[-1] == "/v1/fhir/Patient"
    http.close()


async def test_capability_check_automatic_covers_raw_searches_async(sandbox: Sandbox, api_key: str) -> None:
    async with AsyncClinik(
        api_key, base_url=sandbox.base_url, transport=sandbox.async_transport(), check_search_capabilities=True
    ) as clinik:
        with pytest.raises(UnsupportedSearchError, match="no-such-param"):
            [r async for r in clinik.search(Patient, [("no-such-param", "1")]).iter()]
        with pytest.raises(UnsupportedSearchError, match="no-such-param"):
            await clinik.search(Patient, [("no-such-param", "1")]).page(post=True)
        assert [r async for r in clinik.search(Patient, {"gender": "male"}).iter()] == []


def test_post_search_keeps_values_out_of_every_url_on_every_page(served_sandbox: Sandbox, api_key: str) -> None:
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    with Clinik(api_key, base_url=served_sandbox.base_url, http_client=http) as clinik:
        for _ in range(3):
            clinik.create(Patient(name=[HumanName(family="Postedfamily", given=["Postedgiven"])]))
        sent.clear()
        q = clinik.search(Patient).family("Postedfamily").given("Postedgiven").page_size(1)
        found = list(q.iter(post=True))
        raw_found = list(clinik.pages(clinik._execute_search(Patient, q.params(), post=True)))
    http.close()
    assert len(found) == 3
    assert sum(len(p) for p in raw_found) == 3
    assert len(sent) == 6  # 3 one-entry pages per search, every one a POST
    for request in sent:
        assert request.method == "POST"
        assert request.url.path == "/v1/fhir/Patient/_search"
        assert not request.url.query
        assert "Posted" not in str(request.url)
        assert b"family=Postedfamily" in request.content
    assert any(b"_page=" in r.content for r in sent)  # the page token travels in the form body


async def test_post_search_pages_are_posted_async(sandbox: Sandbox, api_key: str) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    http = httpx.AsyncClient(transport=sandbox.async_transport(), event_hooks={"request": [record]})
    async with AsyncClinik(api_key, base_url=sandbox.base_url, http_client=http) as clinik:
        for _ in range(2):
            await clinik.create(Patient(name=[HumanName(family="Asyncposted")]))
        sent.clear()
        found = [p async for p in clinik.search(Patient).family("Asyncposted").page_size(1).iter(post=True)]
    await http.aclose()
    assert len(found) == 2
    assert len(sent) >= 2
    assert all(r.method == "POST" and not r.url.query and "Asyncposted" not in str(r.url) for r in sent)
