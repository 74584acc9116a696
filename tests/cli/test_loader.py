"""The load engine in-process on the in-process sandbox: grouped requests, Bundles over the request caps in
parts, look-ups in batches, the read-ahead budget."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir import AsyncClinik, Clinik
from clinikfhir._load.loader import (  # pyright: ignore[reportPrivateUsage]
    Loader,
    LoadReport,
    _Budget,
    _joined,
    _reference_trails,
)
from clinikfhir.sandbox import Sandbox

from .synthea_like import entries_per_patient, hospital_information, patient_bundle, practitioner_information


async def _load(sb: Sandbox, key: str, folder: Path, part_bytes: int) -> Loader:
    async with AsyncClinik(key, base_url=sb.base_url, transport=sb.async_transport()) as clinik:
        loader = Loader(clinik, concurrency=2, part_bytes=part_bytes)
        await loader.run([str(folder)])
        return loader


async def test_a_bundle_over_the_cap_goes_in_parts_with_references_rewritten(tmp_path: Path) -> None:
    (tmp_path / "hospitalInformation.json").write_bytes(orjson.dumps(hospital_information()))
    (tmp_path / "practitionerInformation.json").write_bytes(orjson.dumps(practitioner_information()))
    big = patient_bundle(5, encounters=6)
    (tmp_path / "big.json").write_bytes(orjson.dumps(big))
    part = len(orjson.dumps(big)) // 4  # four or five parts
    with Sandbox() as sb:
        key = sb.create_key("org_big")
        first = await _load(sb, key, tmp_path, part)
        assert first.report.ok, first.report.refusals
        n = entries_per_patient(encounters=6)
        assert sum(c.created for c in first.report.counts.values()) == n + 7
        with sb.client(key) as client:
            patients = client.get("/v1/fhir/Patient").json()["entry"]
            assert len(patients) == 1
            pid = f"Patient/{patients[0]['resource']['id']}"
            observations = client.get("/v1/fhir/Observation", params={"_count": "100"}).json()["entry"]
            assert len(observations) == 24
            assert {o["resource"]["subject"]["reference"] for o in observations} == {pid}
            encounters = {f"Encounter/{e['resource']['id']}" for e in client.get("/v1/fhir/Encounter").json()["entry"]}
            assert {o["resource"]["encounter"]["reference"] for o in observations} == encounters
        again = await _load(sb, key, tmp_path, part)
        assert again.report.ok
        assert sum(c.existing for c in again.report.counts.values()) == n + 7
        assert sum(c.created for c in again.report.counts.values()) == 0


async def test_a_reference_to_a_later_part_refuses_the_bundle_before_sending(tmp_path: Path) -> None:
    bundle = patient_bundle(6, encounters=4)
    bundle["entry"].append(bundle["entry"].pop(0))  # the Patient last: everything refers forward to it
    (tmp_path / "forward.json").write_bytes(orjson.dumps(bundle))
    (tmp_path / "hospitalInformation.json").write_bytes(orjson.dumps(hospital_information()))
    (tmp_path / "practitionerInformation.json").write_bytes(orjson.dumps(practitioner_information()))
    with Sandbox() as sb:
        key = sb.create_key("org_fwd")
        loader = await _load(sb, key, tmp_path, len(orjson.dumps(bundle)) // 3)
        assert [(r.rule, r.path) for r in loader.report.refusals] == [("size", "Bundle.entry[0]")]
        with sb.client(key) as client:
            assert client.get("/v1/fhir/Observation", params={"_summary": "count"}).json()["total"] == 0


class _Counting(httpx.AsyncBaseTransport):
    """The sandbox's in-process transport, recording each request's method, path and body; the first
    transaction (hospitalInformation, which creates the Organizations) is held until a look-up has
    been answered, so the patient Bundles beside it surely look up before their targets exist."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, hold: bool = True) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, Any]] = []
        self.looked_up = asyncio.Event()
        self.held = not hold

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content) if request.content else None
        self.seen.append((request.method, request.url.path, body))
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "transaction" and not self.held:
            self.held = True
            await asyncio.wait_for(self.looked_up.wait(), 30)  # a guard against a hang, not a timing
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/Organization") or (kind == "batch" and b"Organization?" in request.content):
            self.looked_up.set()  # an Organization looked up (alone or in a batch) while none exists
        return response


async def _counted_load(sb: Sandbox, key: str, folder: Path, *, concurrency: int) -> tuple[LoadReport, _Counting]:
    """Load ``folder`` into ``sb`` through a recording transport (nothing held): the report, the requests."""
    counting = _Counting(sb.async_transport(), hold=False)
    async with AsyncClinik(key, base_url=sb.base_url, transport=counting) as clinik:
        report = await Loader(clinik, concurrency=concurrency).run([str(folder)])
    return report, counting


def _synthea_folder(folder: Path, patients: int) -> None:
    (folder / "hospitalInformation1.json").write_bytes(orjson.dumps(hospital_information()))
    (folder / "practitionerInformation1.json").write_bytes(orjson.dumps(practitioner_information()))
    for seed in range(patients):
        (folder / f"Patient_{seed:03d}.json").write_bytes(orjson.dumps(patient_bundle(seed)))


async def test_patient_bundles_sent_beside_their_organizations_go_once_and_look_up_in_batches(tmp_path: Path) -> None:
    """Conditional references (``Organization?identifier=...``) whose targets are being created by a
    Bundle in flight (held here until they have looked up and found nothing) wait for it instead of
    parking the patient Bundle for a second round: every Bundle is POSTed once, and the look-ups are
    batches of searches, each reference asked a bounded number of times."""
    _synthea_folder(tmp_path, 10)
    with Sandbox() as sb:
        key = sb.create_key("org_once")
        counting = _Counting(sb.async_transport())
        async with AsyncClinik(key, base_url=sb.base_url, transport=counting) as clinik:
            loader = Loader(clinik, concurrency=8)
            report = await loader.run([str(tmp_path)])
        assert report.ok, report.refusals
        assert report.created == 10 * entries_per_patient() + 7
        sent = [
            entry["fullUrl"]
            for method, path, body in counting.seen
            if method == "POST" and path == "/v1/fhir" and body["type"] == "transaction"
            for entry in body["entry"]
        ]
        assert len(sent) == len(set(sent)) == report.created  # each entry once: nothing parked and sent again
        lookups = [
            entry["request"]
            for method, _, body in counting.seen
            if method == "POST" and body["type"] == "batch"
            for entry in body["entry"]
        ]
        assert lookups
        assert {r["method"] for r in lookups} == {"GET"}
        assert all(r["url"].endswith("&_count=2") for r in lookups)
        assert [m for m, _, _ in counting.seen if m == "GET"] == []  # no lone searches
        asked = {r["url"] for r in lookups}
        assert len(asked) == 7  # 3 Organizations and 4 Practitioners
        assert len(lookups) <= 3 * len(asked) * 2  # a miss is asked again only after a write was answered


async def test_a_conditional_reference_matching_two_resources_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Patient_000.json").write_bytes(orjson.dumps(patient_bundle(0)))
    hospital = hospital_information()
    with Sandbox() as sb:
        key = sb.create_key("org_two")
        with sb.client(key) as client:
            org = next(e["resource"] for e in hospital["entry"])
            for _ in range(2):  # the same identifier twice: the reference is ambiguous
                client.post("/v1/fhir/Organization", json=org).raise_for_status()
            (tmp_path / "practitionerInformation.json").write_bytes(orjson.dumps(practitioner_information()))
            async with AsyncClinik(key, base_url=sb.base_url, transport=sb.async_transport()) as clinik:
                report = await Loader(clinik, concurrency=4).run([str(tmp_path)])
            assert [(r.label.rsplit("/", 1)[-1], r.rule) for r in report.refusals] == [
                ("Patient_000.json", "server:PRECONDITION_FAILED")
            ]
            assert "more than one" in report.refusals[0].message
            assert client.get("/v1/fhir/Patient", params={"_summary": "count"}).json()["total"] == 0


async def test_many_conditional_references_are_looked_up_in_batches_of_fifty(tmp_path: Path) -> None:
    system = "urn:oid:1.2.3"
    patients = [
        {
            "resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": f"p{i}"}]},
            "request": {"method": "POST", "url": "Patient"},
        }
        for i in range(60)
    ]
    observations = [
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "pulse"},
                "subject": {"reference": f"Patient?identifier={system}|p{i}"},
            },
            "request": {"method": "POST", "url": "Observation"},
        }
        for i in range(60)
    ]
    (tmp_path / "a_patients.json").write_bytes(
        orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": patients})
    )
    (tmp_path / "b_observations.json").write_bytes(
        orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": observations})
    )
    with Sandbox() as sb:
        key = sb.create_key("org_many")
        report, counting = await _counted_load(sb, key, tmp_path, concurrency=1)
        assert report.ok, report.refusals
        assert report.created == 120
        batches = [
            len(body["entry"]) for method, _, body in counting.seen if method == "POST" and body["type"] == "batch"
        ]
        assert batches == [50, 10]
        with sb.client(key) as client:
            found = client.get("/v1/fhir/Observation", params={"_count": "100"}).json()["entry"]
            subjects = {o["resource"]["subject"]["reference"] for o in found}
            assert len(subjects) == 60
            assert all(s.startswith("Patient/") for s in subjects)


async def test_the_sync_client_loads_synthea_with_its_look_ups_too(tmp_path: Path) -> None:
    """The seed loader's path: a sync Clinik (one request at a time) resolves the conditional
    references through the same look-up batches; a second run creates nothing."""
    _synthea_folder(tmp_path, 3)
    with Sandbox() as sb:
        key = sb.create_key("org_sync")
        with Clinik(key, base_url=sb.base_url, transport=sb.transport()) as clinik:
            first = await Loader(clinik).run([str(tmp_path)])
            again = await Loader(clinik).run([str(tmp_path)])
        assert first.ok, first.refusals
        assert first.created == 3 * entries_per_patient() + 7
        assert again.ok, again.refusals
        assert again.created == 0
        assert again.existing == first.created
        with sb.client(key) as client:
            encounters = client.get("/v1/fhir/Encounter", params={"_count": "100"}).json()["entry"]
            providers = {e["resource"]["serviceProvider"]["reference"] for e in encounters}
            assert providers
            assert all(p.startswith("Organization/") for p in providers)


def _reference_walk(value: Any, path: str) -> list[tuple[str, Any]]:
    """The Reference finder as it was written (a recursive generator building every path)."""
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            out.append((path, value))
        for name, item in value.items():
            if name != "reference" and isinstance(item, (dict, list)):
                out.extend(_reference_walk(item, f"{path}.{name}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_reference_walk(item, f"{path}[{index}]"))
    return out


_JSON = st.recursive(
    st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["Patient/1", "#x", ""])),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["reference", "subject", "entry", "item", "display"]), inner, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_reference_finder_finds_what_the_generator_found(value: Any) -> None:
    """Same References, same paths, same order, the same objects (they are rewritten in place)."""
    found = [(_joined(trail), ref) for trail, ref in _reference_trails(value, "Root")]
    expected = _reference_walk(value, "Root")
    assert [path for path, _ in found] == [path for path, _ in expected]
    assert all(a is b for (_, a), (_, b) in zip(found, expected, strict=True))


class _HeldFirst(httpx.AsyncBaseTransport):
    """The sandbox's in-process transport, recording each transaction's entries; the first transaction
    is held until ``release`` is set, so every other unit is read, checked and waiting for a request
    by then."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.transactions: list[list[dict[str, Any]]] = []
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content) if request.content else None
        if isinstance(body, dict) and body.get("type") == "transaction":
            self.transactions.append(body["entry"])
            if len(self.transactions) == 1:
                await asyncio.wait_for(self.release.wait(), 30)  # a guard against a hang, not a timing
        return await self.inner.handle_async_request(request)


def _transaction(*resources: dict[str, Any], get: str | None = None) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources
    ]
    if get is not None:
        entries.append({"request": {"method": "GET", "url": get}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def _held_load(sb: Sandbox, key: str, folder: Path, files: int, **options: Any) -> tuple[Loader, _HeldFirst]:
    held = _HeldFirst(sb.async_transport())
    read = 0

    def on_bytes(_: int) -> None:
        nonlocal read
        read += 1
        if read == files:
            held.release.set()

    async with AsyncClinik(key, base_url=sb.base_url, transport=held) as clinik:
        loader = Loader(clinik, concurrency=1, on_bytes=on_bytes, **options)
        await loader.run([str(folder)])
    return loader, held


async def test_small_units_travel_together_and_a_refused_group_is_sent_again_unit_by_unit(tmp_path: Path) -> None:
    """Units waiting for a request share one transaction. When the server refuses it (one unit asks
    for a missing resource), nothing was written: each unit goes again alone, the good ones load and
    the refusal names the unit that caused it."""
    for i in range(5):
        patient = {"resourceType": "Patient", "id": f"p{i}", "gender": "female"}
        (tmp_path / f"a{i}.json").write_bytes(orjson.dumps(_transaction(patient)))
    bad = _transaction({"resourceType": "Patient", "id": "bad", "gender": "male"}, get="Patient/does-not-exist")
    (tmp_path / "b_bad.json").write_bytes(orjson.dumps(bad))
    lines = [{"resourceType": "Observation", "status": "final", "code": {"text": f"o{i}"}} for i in range(3)]
    (tmp_path / "c.ndjson").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with Sandbox() as sb:
        key = sb.create_key("org_group")
        loader, held = await _held_load(sb, key, tmp_path, files=7)
        report = loader.report
        assert [(r.label.rsplit("/", 1)[-1], r.path, r.rule) for r in report.refusals] == [
            ("b_bad.json", "Bundle.entry[1]", "server:NOT_FOUND")
        ]
        assert report.counts["Patient"].created == 5
        assert report.counts["Observation"].created == 3
        sizes = [len(entries) for entries in held.transactions]
        # the first unit alone (held), then the other 8 units together (refused), then each alone
        assert sizes == [1, 4 + 2 + 3, 1, 1, 1, 1, 2, 1, 1, 1]
        with sb.client(key) as client:
            assert client.get("/v1/fhir/Patient", params={"_summary": "count"}).json()["total"] == 5
        again, _ = await _held_load(sb, key, tmp_path, files=7)
        assert again.report.created == 0
        assert again.report.existing == 8


async def test_an_ndjson_file_goes_in_requests_of_at_most_160_resources(tmp_path: Path) -> None:
    lines = [{"resourceType": "Patient", "id": f"n{i}", "birthDate": "1990-01-01"} for i in range(400)]
    (tmp_path / "Patient.ndjson").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with Sandbox() as sb:
        key = sb.create_key("org_ndjson")
        report, counting = await _counted_load(sb, key, tmp_path, concurrency=2)
        assert report.ok, report.refusals
        assert report.created == 400
        sizes = [len(body["entry"]) for method, _, body in counting.seen if method == "POST"]
        assert sum(sizes) == 400
        assert max(sizes) <= 160
        assert len(sizes) < 400 / 8  # one request per line would be 400
        with sb.client(key) as client:
            assert client.get("/v1/fhir/Patient", params={"_summary": "count"}).json()["total"] == 400


async def test_a_transaction_over_160_resources_goes_in_parts(tmp_path: Path) -> None:
    (tmp_path / "hospitalInformation.json").write_bytes(orjson.dumps(hospital_information()))
    (tmp_path / "practitionerInformation.json").write_bytes(orjson.dumps(practitioner_information()))
    big = patient_bundle(8, encounters=30)  # 211 entries
    (tmp_path / "big.json").write_bytes(orjson.dumps(big))
    with Sandbox() as sb:
        key = sb.create_key("org_parts")
        report, counting = await _counted_load(sb, key, tmp_path, concurrency=4)
        assert report.ok, report.refusals
        assert report.created == entries_per_patient(encounters=30) + 7
        sizes = [len(b["entry"]) for m, _, b in counting.seen if m == "POST" and b["type"] == "transaction"]
        assert max(sizes) == 160
        with sb.client(key) as client:
            assert client.get("/v1/fhir/Observation", params={"_summary": "count"}).json()["total"] == 120
            observations = client.get("/v1/fhir/Observation", params={"_count": "100"}).json()["entry"]
            patient = client.get("/v1/fhir/Patient").json()["entry"][0]["resource"]["id"]
            assert {o["resource"]["subject"]["reference"] for o in observations} == {f"Patient/{patient}"}


async def test_units_sharing_a_full_url_never_share_a_request(tmp_path: Path) -> None:
    """The same Bundle in two files, both waiting for the same request: never in one transaction
    (where both would claim one fullUrl); the second goes next and finds the first already there."""
    first = _transaction({"resourceType": "Patient", "id": "first", "gender": "other"})
    (tmp_path / "a_first.json").write_bytes(orjson.dumps(first))  # held until the others wait
    same = _transaction({"resourceType": "Patient", "id": "twice", "gender": "female"})
    same["entry"][0]["fullUrl"] = "urn:uuid:6f1c2a3e-8d4b-4c5a-9e7f-0a1b2c3d4e5f"
    for name in ("b_one.json", "c_two.json"):
        (tmp_path / name).write_bytes(orjson.dumps(same))
    with Sandbox() as sb:
        key = sb.create_key("org_twice")
        loader, held = await _held_load(sb, key, tmp_path, files=3)
        assert loader.report.ok, loader.report.refusals
        assert (loader.report.created, loader.report.existing) == (2, 1)
        assert [len(entries) for entries in held.transactions] == [1, 1, 1]


async def test_the_read_ahead_budget_admits_in_arrival_order_and_a_large_unit_alone() -> None:
    budget = _Budget(10)
    assert await budget.take(6) == 6
    order: list[str] = []

    async def take(name: str, n: int) -> int:
        got = await budget.take(n)
        order.append(name)
        return got

    big = asyncio.ensure_future(take("big", 50))  # over the limit: waits for all of it, then takes it alone
    small = asyncio.ensure_future(take("small", 1))  # fits now, but comes after big: waits its turn
    await asyncio.sleep(0)
    assert order == []
    budget.give(6)
    assert await big == 10
    await asyncio.sleep(0)
    assert order == ["big"]
    budget.give(10)
    assert await small == 1
    assert order == ["big", "small"]
    assert budget.used == 1
