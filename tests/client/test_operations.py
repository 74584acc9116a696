"""Every client operation against the sandbox, for Clinik and AsyncClinik, in-process and over HTTP."""

from __future__ import annotations

import inspect
import re
from typing import Any

import httpx
import pytest

from clinikfhir import JsonPatch, Page, Transaction
from clinikfhir.errors import (
    InvalidArgumentError,
    NotFoundError,
    VersionConflictError,
)
from clinikfhir.models import (
    Bundle,
    CapabilityStatement,
    CodeableConcept,
    Coding,
    GenericResource,
    HumanName,
    Observation,
    OperationOutcome,
    Organization,
    Patient,
    Practitioner,
    Quantity,
    Reference,
)
from clinikfhir.sandbox import Sandbox

from .conftest import Env

TENANT_SYSTEM = "https://clinikapi.com/tenant"


def a_patient(family: str = "Smith") -> Patient:
    return Patient(name=[HumanName(family=family, given=["John"])], gender="male", birthDate="1990-01-15")


def an_observation(patient_id: str, code: str = "8867-4", value: float = 72) -> Observation:
    return Observation(
        status="final",
        code=CodeableConcept(coding=[Coding(system="http://loinc.org", code=code)]),
        subject=Reference(reference=f"Patient/{patient_id}"),
        valueQuantity=Quantity(value=value, unit="/min", system="http://unitsofmeasure.org", code="/min"),
    )


async def test_create_returns_the_stored_resource_with_server_id_meta_and_tenant_tag(env: Env) -> None:
    created = await env.client.create(a_patient())
    assert isinstance(created, Patient)
    assert created.id
    assert created.meta is not None
    assert created.meta.versionId == "1"
    assert [(t.system, t.code) for t in created.meta.tag or []] == [(TENANT_SYSTEM, env.tenant)]
    meta = env.client.last_response
    assert meta.status == 201
    assert meta.request_id.startswith("req_")
    assert meta.version_id == "1"
    assert meta.location
    assert created.id in meta.location


async def test_read_gives_the_typed_model_and_metadata(env: Env) -> None:
    created = await env.client.create(a_patient("Reader"))
    read = await env.client.read(Patient, created.id)
    assert isinstance(read, Patient)
    assert read.name[0].family == "Reader"
    assert str(read.birthDate) == "1990-01-15"
    meta = env.client.last_response
    assert meta.status == 200
    assert meta.etag == 'W/"1"'
    assert meta.method == "GET"
    assert meta.resource_type == "Patient"


async def test_vread_reads_an_old_version(env: Env) -> None:
    created = await env.client.create(a_patient())
    await env.client.patch(Patient, created.id, JsonPatch(Patient).replace("/gender", "female"))
    v1 = await env.client.vread(Patient, created.id, "1")
    v2 = await env.client.vread(Patient, created.id, "2")
    assert (v1.gender, v2.gender) == ("male", "female")


async def test_update_sends_if_match_and_a_stale_version_is_a_version_conflict(env: Env) -> None:
    created = await env.client.create(a_patient())
    created.active = True
    updated = await env.client.update(created)
    assert updated.meta.versionId == "2"
    assert updated.active is True
    created.active = False  # still carries versionId 1
    with pytest.raises(VersionConflictError) as info:
        await env.client.update(created)
    assert info.value.status == 409
    assert info.value.request_id.startswith("req_")
    forced = await env.client.update(created, if_match=False)
    assert forced.meta.versionId == "3"
    assert forced.active is False


async def test_update_of_a_resource_as_read_keeps_its_own_tenant_tag(env: Env) -> None:
    created = await env.client.create(a_patient())
    read = await env.client.read(Patient, created.id)
    read.gender = "other"
    updated = await env.client.update(read)
    assert updated.gender == "other"
    assert [t.code for t in updated.meta.tag or [] if t.system == TENANT_SYSTEM] == [env.tenant]


async def test_patch_applies_a_typed_json_patch(env: Env) -> None:
    created = await env.client.create(a_patient())
    patch = (
        JsonPatch(Patient).replace("/gender", "female").add("/name/0/given/-", "Paul").test("/name/0/family", "Smith")
    )
    patched = await env.client.patch(Patient, created.id, patch)
    assert patched.gender == "female"
    assert patched.name[0].given == ["John", "Paul"]
    assert patched.meta.versionId == "2"


async def test_decimals_keep_their_digits_through_create_read_and_patch(env: Env) -> None:
    from decimal import Decimal

    from clinikfhir.models import dump

    patient = await env.client.create(a_patient())
    obs = an_observation(patient.id)
    obs.valueQuantity.value = Decimal("1.50")
    created = await env.client.create(obs)
    assert '"value":1.50' in dump(created)
    read = await env.client.read(Observation, created.id)
    assert '"value":1.50' in dump(read)
    patched = await env.client.patch(
        Observation, created.id, JsonPatch(Observation).replace("/valueQuantity/value", Decimal("2.50"))
    )
    assert '"value":2.50' in dump(patched)
    changed = patched.model_copy(deep=True)
    changed.valueQuantity.value = Decimal("3.10")
    rediffed = await env.client.patch(Observation, created.id, JsonPatch.diff(patched, changed))
    assert '"value":3.10' in dump(rediffed)


async def test_patch_from_a_model_diff(env: Env) -> None:
    created = await env.client.create(a_patient())
    changed = created.model_copy(deep=True)
    changed.gender = "unknown"
    changed.name[0].family = "Jones"
    patched = await env.client.patch(Patient, created.id, JsonPatch.diff(created, changed))
    assert (patched.gender, patched.name[0].family) == ("unknown", "Jones")


async def test_patch_with_if_match_on_a_stale_version_conflicts(env: Env) -> None:
    created = await env.client.create(a_patient())
    await env.client.patch(Patient, created.id, JsonPatch().replace("/gender", "female"))
    with pytest.raises(VersionConflictError):
        await env.client.patch(Patient, created.id, JsonPatch().replace("/gender", "other"), if_match="1")


async def test_delete_then_read_is_not_found(env: Env) -> None:
    created = await env.client.create(a_patient())
    assert await env.client.delete(Patient, created.id) is None
    assert env.client.last_response.status in (200, 204)
    with pytest.raises(NotFoundError) as info:
        await env.client.read(Patient, created.id)
    assert info.value.code == "NOT_FOUND"
    assert info.value.status == 404


async def test_history_lists_every_version_typed(env: Env) -> None:
    created = await env.client.create(a_patient())
    await env.client.patch(Patient, created.id, JsonPatch().replace("/gender", "female"))
    await env.client.patch(Patient, created.id, JsonPatch().replace("/gender", "other"))
    history = await env.client.history(Patient, created.id)
    assert isinstance(history, Page)
    assert sorted(p.meta.versionId for p in history.resources) == ["1", "2", "3"]
    assert all(isinstance(p, Patient) for p in history)


async def test_search_returns_a_typed_page_with_included_resources(env: Env) -> None:
    patient = await env.client.create(a_patient("Searched"))
    await env.client.create(an_observation(patient.id))
    await env.client.create(an_observation(patient.id, code="29463-7", value=80))
    page = await env.client.search_page(Observation, {"code": "8867-4", "_include": "Observation:subject"})
    assert isinstance(page, Page)
    assert len(page) == 1
    assert page.total == 1
    (obs,) = page.resources
    assert isinstance(obs, Observation)
    assert obs.subject.reference == f"Patient/{patient.id}"
    included = page.included(Patient)
    assert [p.id for p in included] == [patient.id]
    assert isinstance(included[0], Patient)
    assert page.included(Observation) == []
    assert "self" in page.links
    assert page.next_url is None
    assert page.meta.status == 200
    assert page.meta.request_id


async def test_iter_search_follows_next_links_across_pages(env: Env) -> None:
    for i in range(12):
        await env.client.create(a_patient(f"Pager{i}"))
    first = await env.client.search_page(Patient, [("_count", "5")])
    assert len(first) == 5
    assert first.next_url is not None
    pages = await env.client.collect("pages", first)
    assert [len(p) for p in pages] == [5, 5, 2]
    everyone = await env.client.search_all(Patient, {"_count": "5"})
    assert len(everyone) == 12
    assert len({p.id for p in everyone}) == 12
    assert all(isinstance(p, Patient) for p in everyone)


async def test_search_sees_only_the_callers_tenant(env: Env) -> None:
    mine = await env.client.create(a_patient("Mine"))
    other = env.make(env.new_key())
    theirs = await other.create(a_patient("Theirs"))
    page = await env.client.search_page(Patient, {"_count": "100"})
    assert [p.id for p in page] == [mine.id]
    with pytest.raises(NotFoundError):
        await env.client.read(Patient, theirs.id)


async def test_search_by_post_form_body(env: Env) -> None:
    await env.client.create(a_patient("Posted"))
    first = env.client.raw.search(Patient, [("family", "Posted")]).page(post=True)
    page = await first if inspect.isawaitable(first) else first
    assert [p.name[0].family for p in page] == ["Posted"]
    assert page.meta.method == "POST"


async def test_everything_returns_the_patient_compartment(env: Env) -> None:
    patient = await env.client.create(a_patient())
    obs = await env.client.create(an_observation(patient.id))
    page = await env.client.everything(Patient, patient.id)
    assert {p.id for p in page.of_type(Patient)} == {patient.id}
    assert {o.id for o in page.of_type(Observation)} == {obs.id}


async def test_operation_at_instance_and_type_level(env: Env) -> None:
    patient = await env.client.create(a_patient())
    bundle = await env.client.operation("$everything", model=Patient, id=patient.id, method="GET")
    assert isinstance(bundle, Bundle)
    outcome = await env.client.operation(
        "validate",
        model=Patient,
        parameters={
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": {"resourceType": "Patient", "gender": "male"}}],
        },
        result=OperationOutcome,
    )
    assert isinstance(outcome, OperationOutcome)


async def test_the_deprecated_spellings_warn_and_still_work(env: Env) -> None:
    await env.client.create(a_patient("Old"))
    with pytest.warns(DeprecationWarning, match="validate_on_server"):
        outcome = await env.client.validate(a_patient())
    assert isinstance(outcome, OperationOutcome)
    with pytest.warns(DeprecationWarning, match="iter_search"):
        found = await env.client.collect("iter_search", Patient, {"family": "Old"})
    assert [p.name[0].family for p in found] == ["Old"]


async def test_server_validate_returns_an_operation_outcome(env: Env) -> None:
    outcome = await env.client.validate_on_server(a_patient())
    assert isinstance(outcome, OperationOutcome)
    assert all(i.severity not in ("error", "fatal") for i in outcome.issue)
    bad = Patient.model_construct(gender="bogus")
    verdict = await env.client.validate_on_server(bad)
    assert any(i.severity == "error" for i in verdict.issue)


async def test_capabilities_are_read_without_sending_the_key(env: Env) -> None:
    sent: list[httpx.Request] = []
    if env.is_async:

        async def record_async(request: httpx.Request) -> None:
            sent.append(request)

        http: Any = httpx.AsyncClient(
            transport=env.sandbox.async_transport() if env.in_process else None,
            event_hooks={"request": [record_async]},
        )
    else:
        http = httpx.Client(
            transport=env.sandbox.transport() if env.in_process else None, event_hooks={"request": [sent.append]}
        )
    client = env.make(http_client=http)
    caps = await client.capabilities()
    assert isinstance(caps, CapabilityStatement)
    assert caps.fhirVersion == "4.0.1"
    assert [r.url.path for r in sent] == ["/v1/metadata"]
    assert "x-api-key" not in sent[0].headers
    if env.is_async:
        await http.aclose()
    else:
        http.close()


async def test_transaction_with_urn_uuid_references(env: Env) -> None:
    tx = Transaction()
    ref = tx.create(a_patient("InTx"))
    obs_ref = tx.create(an_observation("placeholder").model_copy(update={"subject": Reference(reference=ref)}))
    result = await env.client.transaction(tx)
    assert [e.status_code for e in result] == [201, 201]
    patient = result.resource(ref, Patient)
    obs = result.resource(obs_ref, Observation)
    assert obs.subject.reference == f"Patient/{patient.id}"
    assert (await env.client.read(Observation, obs.id)).subject.reference == f"Patient/{patient.id}"


async def test_transaction_of_plain_models_creates_and_updates(env: Env) -> None:
    existing = await env.client.create(a_patient("Before"))
    existing.name[0].family = "After"
    result = await env.client.transaction([a_patient("New"), existing])
    assert [e.status_code for e in result] == [201, 200]
    assert (await env.client.read(Patient, existing.id)).name[0].family == "After"


async def test_batch_entries_succeed_or_fail_independently(env: Env) -> None:
    existing = await env.client.create(a_patient())
    tx = Transaction()
    tx.read(Patient, existing.id)
    tx.read(Patient, "does-not-exist")
    tx.create(a_patient("Batched"))
    result = await env.client.batch(tx)
    codes = [e.status_code for e in result]
    assert codes[0] == 200
    assert codes[1] == 404
    assert codes[2] == 201
    assert result.resource(0, Patient).id == existing.id


async def test_transaction_with_a_foreign_tenant_entry_writes_nothing(env: Env) -> None:
    other = env.make(env.new_key())
    theirs = await other.create(a_patient("Theirs"))
    theirs.gender = "female"
    before = len(await env.client.search_page(Patient, {"_count": "100"}))
    with pytest.raises(NotFoundError):
        await env.client.transaction(Transaction([a_patient("Mine"), theirs.model_copy(update={"meta": None})]))
    assert len(await env.client.search_page(Patient, {"_count": "100"})) == before


async def test_raw_request_is_typed_by_resource_type(env: Env) -> None:
    created = await env.client.request("POST", "Patient", {"resourceType": "Patient", "gender": "male"})
    assert isinstance(created, Patient)
    assert created.id
    read = await env.client.request("GET", f"/Patient/{created.id}")
    assert isinstance(read, Patient)
    bundle = await env.client.request("GET", "/Patient?gender=male")
    assert isinstance(bundle, Bundle)
    assert bundle.total == 1
    patched = await env.client.request(
        "PATCH", f"/Patient/{created.id}", [{"op": "replace", "path": "/gender", "value": "female"}]
    )
    assert isinstance(patched, Patient)
    assert patched.gender == "female"
    assert await env.client.request("DELETE", f"/Patient/{created.id}") is None


async def test_r4_only_types_round_trip_as_generic_resources(env: Env) -> None:
    body = {"resourceType": "MedicinalProduct", "name": [{"productName": "Aspirin 100"}]}
    created = await env.client.request("POST", "/MedicinalProduct", body)
    assert isinstance(created, GenericResource)
    assert created.resource_type == "MedicinalProduct"
    assert created.raw["name"] == body["name"]


@pytest.mark.parametrize("hostile", ["../x", "a/b", "", "x" * 200, ".", "..", "a b", "a?b", "a#b", "é", "abc\n"])
async def test_hostile_ids_are_refused_before_sending(env: Env, hostile: str) -> None:
    sent_before = env.client.last_response
    with pytest.raises(InvalidArgumentError):
        await env.client.read(Patient, hostile)
    with pytest.raises(InvalidArgumentError):
        await env.client.delete(Patient, hostile)
    with pytest.raises(InvalidArgumentError):
        await env.client.vread(Patient, "ok", hostile)
    assert env.client.last_response is sent_before  # nothing went out


async def test_r4_only_types_are_searchable_by_name(env: Env) -> None:
    body = {"resourceType": "MedicinalProduct", "name": [{"productName": "Aspirin 100"}]}
    created = await env.client.request("POST", "/MedicinalProduct", body)
    page = await env.client._execute_search(GenericResource, [], resource_type="MedicinalProduct")
    assert [r.id for r in page] == [created.id]
    assert page[0].resource_type == "MedicinalProduct"
    with pytest.raises(InvalidArgumentError):
        await env.client._execute_search(Patient, [], resource_type="MedicinalProduct")


async def test_capture_response_is_per_asyncio_task_and_last_response_is_the_clients_last(
    sandbox: Sandbox,
) -> None:
    import asyncio

    from clinikfhir import AsyncClinik

    key = sandbox.create_key("org_ctx")
    async with AsyncClinik(key, base_url=sandbox.base_url, transport=sandbox.async_transport()) as clinik:
        created = await clinik.create(a_patient())
        assert created.id is not None
        assert clinik.last_response.status == 201

        async def read_and_report(model: type[Any], rid: str) -> tuple[int, str]:
            error_id = None
            with clinik.capture_response() as seen:
                try:
                    await clinik.read(model, rid)
                except NotFoundError as exc:
                    error_id = exc.request_id
            meta = seen.meta
            assert meta is not None
            assert error_id in (None, meta.request_id)
            return meta.status, meta.request_id

        (ok_status, ok_id), (missing_status, missing_id) = await asyncio.gather(
            read_and_report(Patient, created.id), read_and_report(Patient, "absent")
        )
        assert (ok_status, missing_status) == (200, 404)
        assert ok_id != missing_id
        assert clinik.last_response.request_id in (ok_id, missing_id)  # the client's last response


def declared_parameters(caps: CapabilityStatement, rtype: str) -> dict[str, Any]:
    """The statement's ``searchParam`` entries for ``rtype``, by name (as JSON)."""
    data = caps.model_dump(mode="json", by_alias=True, exclude_none=True)
    for rest in data.get("rest", []):
        for res in rest.get("resource", []):
            if res["type"] == rtype:
                return {sp["name"]: sp for sp in res.get("searchParam", [])}
    return {}


async def test_searches_can_be_checked_against_the_capability_statement(env: Env) -> None:
    from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS
    from clinikfhir.errors import BadRequestError
    from clinikfhir.search import UnsupportedSearchError

    client = env.make(check_search_capabilities=True)
    await client.create(a_patient("Capable"))
    page = await client.search_page(Patient, {"family": "Capable"})
    assert len(page) == 1
    caps = await client.capabilities()
    # a parameter R4 defines on Patient that the server's statement does not declare
    declared = declared_parameters(caps, "Patient")
    undeclared = sorted(set(SEARCH_PARAMETERS["Patient"]) - set(declared))
    assert undeclared, "the sandbox now declares every R4 Patient parameter: pick another unsupported feature"
    name = undeclared[0]
    before = client.last_response
    with pytest.raises(UnsupportedSearchError, match=re.escape(name)):
        await client.search_page(Patient, {name: "anything"})
    assert client.last_response is before  # refused locally: the cached statement was enough
    # the statement tells the truth: the server itself refuses what it does not declare
    with pytest.raises(BadRequestError, match=re.escape(name)):
        await env.client.search_page(Patient, {name: "anything"})
    assert caps is await client.capabilities()
    assert caps is not await client.capabilities(refresh=True)


async def run_query(query: Any) -> Any:
    """``query.page()`` on either client."""
    result = query.page()
    return await result if inspect.isawaitable(result) else result


async def test_includes_pass_the_automatic_capability_check_and_execute(env: Env) -> None:
    client = env.make(check_search_capabilities=True)
    org = await client.create(Organization(name="Included Org"))
    patient = await client.create(
        Patient(name=[HumanName(family="Includer")], managingOrganization=Reference(reference=f"Organization/{org.id}"))
    )
    obs = await client.create(an_observation(patient.id))
    q = (
        client.raw.search(Observation)
        .id_(obs.id)
        .include("subject", "Patient")
        .raw("_include:iterate", "Patient:organization")
    )
    page = await run_query(q)
    assert [o.id for o in page] == [obs.id]
    assert [p.id for p in page.included(Patient)] == [patient.id]
    assert [o.id for o in page.included(Organization)] == [org.id]
    page = await run_query(client.raw.search(Patient).id_(patient.id).revinclude("Observation:subject"))
    assert [p.id for p in page] == [patient.id]
    assert [o.id for o in page.included(Observation)] == [obs.id]


async def test_unsupported_includes_and_modifiers_are_refused_before_sending(env: Env) -> None:
    from clinikfhir.errors import BadRequestError
    from clinikfhir.search import UnsupportedSearchError

    client = env.make(check_search_capabilities=True)
    caps = await client.capabilities()
    code = declared_parameters(caps, "Observation")["code"]
    listed = {e["valueCode"] for e in code.get("extension", [])}
    assert {"text", "not", "missing"} <= listed  # the statement lists the engine's modifiers
    r4_token_modifiers = ["above", "below", "in", "missing", "not", "not-in", "of-type", "text"]
    unlisted = [m for m in r4_token_modifiers if m not in listed]
    assert unlisted, "the sandbox now supports every token modifier: pick another unsupported feature"
    refused: list[tuple[str, Any]] = [
        (f"code:{unlisted[0]}", client.raw.search(Observation).raw(f"code:{unlisted[0]}", "http://loinc.org|8867-4")),
        ("_include", client.raw.search(Observation).raw("_include", "Observation:code")),  # not a reference
        ("_revinclude", client.raw.search(Patient).raw("_revinclude", "Observation:performer:Practitioner")),
        ("_revinclude", client.raw.search(Practitioner).raw("_revinclude", "Observation:subject")),  # no such link
    ]
    for name, query in refused:
        before = client.last_response
        with pytest.raises(UnsupportedSearchError, match=re.escape(name)):
            await run_query(query)
        assert client.last_response is before  # nothing was sent
    # the statement tells the truth: the server refuses the modifier and the non-reference include too
    for _, query in refused[:2]:
        unchecked = env.client.raw.search(Observation, query.params())
        with pytest.raises(BadRequestError):
            await run_query(unchecked)


async def test_conditional_create_returns_the_existing_match(env: Env) -> None:
    from clinikfhir.models import Identifier

    p = Patient(gender="male", identifier=[Identifier(system="urn:mrn", value="42")])
    first = await env.client.create(p, if_none_exist="identifier=urn:mrn|42")
    assert env.client.last_response.status == 201
    second = await env.client.create(p, if_none_exist="identifier=urn:mrn|42")
    assert env.client.last_response.status == 200
    assert second.id == first.id
    assert len(await env.client.search_page(Patient)) == 1


def test_one_sync_client_shared_by_threads_keeps_last_response_per_thread(served_sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from clinikfhir import Clinik

    key = served_sandbox.create_key("org_threads")
    with Clinik(key, base_url=served_sandbox.base_url) as clinik:

        def work(i: int) -> tuple[str, str]:
            created = clinik.create(a_patient(f"Thread{i}"))
            assert created.id is not None
            meta = clinik.last_response
            assert meta is not None
            assert meta.status == 201
            assert meta.location is not None
            return created.id, meta.location

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(work, range(24)))
        assert all(rid in location for rid, location in results)  # each thread saw its own response
        assert len(clinik.search(Patient).page_size(100).page()) == 24
