"""What is refused before anything is sent: invalid resources, tenant-tag writes and filters, bad
patches and arguments. Each test checks that nothing reached the sandbox."""

from __future__ import annotations

import pytest

from clinikfhir import JsonPatch, Transaction
from clinikfhir.errors import InvalidArgumentError, LocalValidationError, ServerValidationError, TenantGuardError
from clinikfhir.models import Coding, HumanName, Meta, Observation, Patient
from clinikfhir.validation import validate

from .conftest import Env

TENANT = "https://clinikapi.com/tenant"


async def count(env: Env, model: type = Patient) -> int:
    return len(await env.client.search_page(model, {"_count": "100"}))


async def test_an_invalid_resource_is_rejected_locally_with_every_path(env: Env) -> None:
    bad = Patient.model_construct(gender="bogus", birthDate="1990-01-15")
    obs = Observation.model_construct(status="nonsense")  # status bad, code missing
    with pytest.raises(LocalValidationError) as info:
        await env.client.create(obs)
    paths = {i.path for i in info.value.issues if i.is_error}
    assert any(p.startswith("Observation.status") for p in paths)
    assert any(p.startswith("Observation.code") for p in paths)
    assert "nonsense" not in str(info.value)
    with pytest.raises(LocalValidationError) as info2:
        await env.client.create(bad)
    assert any(i.path.startswith("Patient.gender") for i in info2.value.issues)
    assert "nothing was sent" in str(info2.value)
    assert await count(env) == 0
    assert await count(env, Observation) == 0


async def test_validation_can_be_skipped_per_call_and_the_server_then_decides(env: Env) -> None:
    with pytest.raises(ServerValidationError) as info:
        await env.client.create(Patient.model_construct(gender="bogus"), validate=False)
    assert info.value.status == 422
    assert info.value.issues


async def test_update_and_transactions_are_validated_too(env: Env) -> None:
    p = await env.client.create(Patient(gender="male"))
    broken = p.model_copy(update={"gender": "bogus"})
    with pytest.raises(LocalValidationError):
        await env.client.update(broken)
    with pytest.raises(LocalValidationError) as info:
        await env.client.transaction([Patient(gender="female"), Observation.model_construct(status="final")])
    assert any(i.path.startswith("Bundle.entry[1].resource.code") for i in info.value.issues)
    assert await count(env) == 1


async def test_bundle_issues_name_their_entry_like_validate_of_the_bundle(env: Env) -> None:
    tx = Transaction()
    tx.delete(Patient, "some-id")  # entry 0 writes nothing
    tx.create(Patient.model_construct(gender="bogus"))  # entry 1
    tx.create(Observation.model_construct(status="final"))  # entry 2
    for kind in ("transaction", "batch"):
        with pytest.raises(LocalValidationError) as info:
            await getattr(env.client, kind)(tx)
        paths = {i.path for i in info.value.blocking}
        assert "Bundle.entry[1].resource.gender" in paths
        assert any(p.startswith("Bundle.entry[2].resource.code") for p in paths)
        assert all(p.startswith(("Bundle.entry[1].resource", "Bundle.entry[2].resource")) for p in paths)
        expected = {(i.path, i.key) for i in validate(tx.to_json("transaction")) if i.is_error}
        assert {(i.path, i.key) for i in info.value.blocking} == expected
        assert "Bundle.entry[1].resource.gender" in str(info.value)


async def test_a_create_carrying_a_tenant_tag_is_refused_before_sending(env: Env) -> None:
    for code in ("org_someone_else", env.tenant):
        tagged = Patient(gender="male", meta=Meta(tag=[Coding(system=TENANT, code=code)]))
        with pytest.raises(TenantGuardError, match="gateway owns tenancy"):
            await env.client.create(tagged)
    assert await count(env) == 0


async def test_a_create_is_refused_with_a_tenant_tag_even_after_reading_that_tenant(env: Env) -> None:
    created = await env.client.create(Patient(gender="male"))
    read = await env.client.read(Patient, created.id)
    assert [t.code for t in read.meta.tag or [] if t.system == TENANT] == [env.tenant]
    copy = Patient(gender="female", meta=Meta(tag=list(read.meta.tag or [])))
    with pytest.raises(TenantGuardError, match="a create may not carry one"):
        await env.client.create(copy)
    with pytest.raises(TenantGuardError):
        await env.client.transaction(Transaction([copy]))
    with pytest.raises(TenantGuardError):
        await env.client.request("POST", "/Patient", copy)
    assert await count(env) == 1


async def test_a_resource_as_read_may_be_updated_with_its_own_tag(env: Env) -> None:
    created = await env.client.create(Patient(gender="male"))
    read = await env.client.read(Patient, created.id)
    again = await env.client.update(read.model_copy(update={"gender": "female"}))
    assert again.gender == "female"
    assert [t.code for t in again.meta.tag or [] if t.system == TENANT] == [env.tenant]
    doubled = read.model_copy(
        update={"meta": Meta(tag=[*(read.meta.tag or []), Coding(system=TENANT, code="org_other")])}
    )
    with pytest.raises(TenantGuardError):
        await env.client.update(doubled)


@pytest.mark.parametrize(
    "params",
    [
        {"_tag": f"{TENANT}|org_victim"},
        [("_tag", f"{TENANT}|")],
        {"_tag:not": "anything"},
        {"_tag:missing": "true"},
        {"subject:Patient._tag": f"{TENANT}|org_x"},
    ],
)
async def test_a_search_filtering_on_the_tenant_tag_is_refused(env: Env, params: object) -> None:
    before = env.client.last_response
    with pytest.raises(TenantGuardError, match="owns tenancy") as built:
        await env.client.search_page(Patient, params)  # the typed builder
    with pytest.raises(TenantGuardError, match="owns tenancy") as raw:
        await env.client.search_all(Patient, params)  # raw params: the same guard, same verdict
    assert str(built.value) == str(raw.value)
    assert env.client.last_response is before


async def test_other_tag_systems_are_fine_in_searches(env: Env) -> None:
    page = await env.client.search_page(Patient, {"_tag": "http://example.org/tags|vip"})
    assert len(page) == 0


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/meta/tag/0"}],
        [{"op": "replace", "path": "/meta/tag", "value": []}],
        [{"op": "add", "path": "/meta", "value": {}}],
        [{"op": "move", "from": "/meta/tag/0", "path": "/meta/security/0"}],
    ],
)
async def test_a_patch_touching_meta_tag_is_refused(env: Env, ops: list[dict[str, object]]) -> None:
    p = await env.client.create(Patient(gender="male"))
    with pytest.raises(TenantGuardError):
        await env.client.patch(Patient, p.id, ops)
    with pytest.raises(TenantGuardError):
        await env.client.request("PATCH", f"/Patient/{p.id}", ops)
    assert (await env.client.read(Patient, p.id)).meta.versionId == "1"


async def test_patch_paths_are_checked_against_the_model(env: Env) -> None:
    p = await env.client.create(Patient(gender="male"))
    for ops in (
        [{"op": "replace", "path": "/gendr", "value": "female"}],
        [{"op": "replace", "path": "/name/first/family", "value": "X"}],
        [{"op": "replace", "path": "/gender/extra", "value": "X"}],
        [{"op": "explode", "path": "/gender"}],
        [{"op": "replace", "path": "gender", "value": "female"}],
        [{"op": "replace", "path": "/gender"}],
        [],
    ):
        with pytest.raises(InvalidArgumentError):
            await env.client.patch(Patient, p.id, ops)
    with pytest.raises(InvalidArgumentError):
        await env.client.patch(Observation, p.id, JsonPatch(Patient).replace("/gender", "female"))
    assert (await env.client.read(Patient, p.id)).meta.versionId == "1"


async def test_oversized_bodies_are_refused_before_sending(env: Env) -> None:
    huge = Patient(gender="male", name=[HumanName(family="x" * 1_100_000)])
    with pytest.raises(InvalidArgumentError, match="at most 1048576"):
        await env.client.create(huge, validate=False)
    assert await count(env) == 0


@pytest.mark.parametrize(
    "path",
    ["https://evil.example/Patient", "//evil.example/Patient", "/Patient/../Observation", "/Patient/#x", "", "/a b"],
)
async def test_raw_request_paths_are_checked(env: Env, path: str) -> None:
    with pytest.raises(InvalidArgumentError):
        await env.client.request("GET", path)


async def test_raw_request_methods_are_checked(env: Env) -> None:
    with pytest.raises(InvalidArgumentError):
        await env.client.request("TRACE", "/Patient")


def test_transaction_builder_refuses_hostile_ids_and_empty_bundles() -> None:
    tx = Transaction()
    with pytest.raises(InvalidArgumentError):
        tx.delete(Patient, "../x")
    with pytest.raises(InvalidArgumentError):
        tx.to_json("transaction")
    with pytest.raises(TenantGuardError):
        tx.create(Patient(gender="male"), if_none_exist=f"_tag={TENANT}|org_x")


async def test_warnings_can_be_made_blocking(env: Env) -> None:
    lenient = env.client
    strict = env.make(reject_warnings=True)
    patient = Patient(gender="male")  # no narrative: warning dom-6, no error
    with pytest.raises(LocalValidationError) as info:
        await strict.create(patient)
    assert {i.severity for i in info.value.blocking} == {"warning"}
    assert any(i.key == "dom-6" for i in info.value.blocking)
    created = await lenient.create(patient)
    assert created.id
    assert await count(env) == 1


async def test_header_values_cannot_smuggle_line_breaks(env: Env) -> None:
    p = await env.client.create(Patient(gender="male"))
    with pytest.raises(InvalidArgumentError):
        await env.client.update(p, if_match='W/"1"\r\nx-api-key: stolen')
    with pytest.raises(InvalidArgumentError):
        await env.client.delete(Patient, p.id, if_match="1\nX: y")
    with pytest.raises(InvalidArgumentError):
        await env.client.create(Patient(gender="male"), if_none_exist="identifier=a|1\r\nX: y")
    assert (await env.client.read(Patient, p.id)).meta.versionId == "1"


async def test_raw_post_and_put_of_a_resource_are_validated_and_guarded(env: Env) -> None:
    bad_dict = {"resourceType": "Patient", "gender": "bogus"}
    bad_model = Patient.model_construct(gender="bogus")
    for body in (bad_dict, bad_model):
        with pytest.raises(LocalValidationError) as info:
            await env.client.request("POST", "/Patient", body)
        assert "Patient.gender" in {i.path for i in info.value.blocking}
    created = await env.client.create(Patient(gender="male"))
    with pytest.raises(LocalValidationError):
        await env.client.request("PUT", f"/Patient/{created.id}", {**bad_dict, "id": created.id})
    assert await count(env) == 1
    tagged = {"resourceType": "Patient", "gender": "male", "meta": {"tag": [{"system": TENANT, "code": env.tenant}]}}
    with pytest.raises(TenantGuardError):
        await env.client.request("POST", "/Patient", tagged)
    with pytest.raises(TenantGuardError):
        await env.client.request("POST", "/Patient", tagged, validate=False)
    assert await count(env) == 1
    # the same opt-out keyword as create/update: the server then judges (and refuses) it
    with pytest.raises(ServerValidationError):
        await env.client.request("POST", "/Patient", bad_dict, validate=False)
    ok = await env.client.request("POST", "/Patient", {"resourceType": "Patient", "gender": "female"})
    assert isinstance(ok, Patient)
    assert ok.gender == "female"


async def test_non_blocking_validation_issues_are_reported_not_dropped(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    patient = Patient(gender="male", name=[HumanName(family="Warnfamily")])  # no narrative: warning dom-6
    created = await env.client.create(patient)
    meta = env.client.last_response
    assert meta is not None
    assert meta.status == 201
    assert [(i.severity, i.path, i.key) for i in meta.validation_issues] == [("warning", "Patient", "dom-6")]
    warnings = [r for r in caplog.records if r.name == "clinikfhir" and "non-blocking" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.INFO]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "POST Patient" in message
    assert "1 non-blocking validation issue" in message
    assert "Patient [dom-6]" in message
    assert "Warnfamily" not in message

    caplog.clear()
    await env.client.update(created)
    assert [i.key for i in env.client.last_response.validation_issues] == ["dom-6"]
    await env.client.request("POST", "/Patient", {"resourceType": "Patient", "gender": "female"})
    assert [i.key for i in env.client.last_response.validation_issues] == ["dom-6"]
    tx = Transaction()
    tx.read(Patient, created.id)
    tx.create(Patient(gender="female"))
    await env.client.transaction(tx)
    assert [i.path for i in env.client.last_response.validation_issues] == ["Bundle.entry[1].resource"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "clinikfhir" and "non-blocking" in r.getMessage()]
    assert len(warnings) == 3  # one per write
    assert "Bundle.entry[1].resource [dom-6]" in warnings[-1]

    caplog.clear()
    await env.client.create(patient, validate=False)  # not validated: nothing to report
    assert env.client.last_response.validation_issues == ()
    assert not [r for r in caplog.records if r.name == "clinikfhir" and "non-blocking" in r.getMessage()]
    await env.client.read(Patient, created.id)
    assert env.client.last_response.validation_issues == ()
