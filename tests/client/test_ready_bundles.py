"""A ready transaction/batch Bundle (model or dict, as a Synthea file is) goes straight to
``transaction()``/``batch()``; the caller's mistakes are InvalidArgumentError; NotFoundError names the type."""

from __future__ import annotations

from typing import Any

import pytest

from clinikfhir.errors import InvalidArgumentError, NotFoundError, TenantGuardError
from clinikfhir.models import Bundle, Observation, Patient

from .conftest import Env

SYNTHEA: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
            "resource": {"resourceType": "Patient", "gender": "female", "birthDate": "1970-01-01"},
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "weight"},
                "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
            },
            "request": {"method": "POST", "url": "Observation"},
        },
    ],
}


@pytest.mark.parametrize("as_model", [False, True])
async def test_a_ready_transaction_bundle_is_sent_as_it_is(env: Env, as_model: bool) -> None:
    bundle: Any = Bundle.model_validate(SYNTHEA) if as_model else SYNTHEA
    result = await env.client.transaction(bundle)
    patient = result.resource("urn:uuid:11111111-1111-4111-8111-111111111111", Patient)
    obs = result.resource(1, Observation)
    assert obs.subject.reference == f"Patient/{patient.id}"  # the server resolved the urn:uuid
    assert (await env.client.read(Patient, patient.id)).gender == "female"
    with pytest.raises(InvalidArgumentError, match="holds a Patient, not a Observation"):
        result.resource(0, Observation)  # the caller's mistake, not a broken response


async def test_a_ready_batch_bundle_and_the_kind_must_match(env: Env) -> None:
    batch = {**SYNTHEA, "type": "batch", "entry": SYNTHEA["entry"][:1]}
    result = await env.client.batch(batch)
    assert result.entries[0].ok
    with pytest.raises(InvalidArgumentError, match="type 'transaction'"):
        await env.client.transaction(batch)
    with pytest.raises(InvalidArgumentError):
        await env.client.transaction(Patient(gender="male"))  # a resource, not a Bundle


async def test_a_ready_bundle_goes_through_the_tenant_guard(env: Env) -> None:
    entry = {
        "resource": {
            "resourceType": "Patient",
            "meta": {"tag": [{"system": "https://clinikapi.com/tenant", "code": "org_other"}]},
        },
        "request": {"method": "POST", "url": "Patient"},
    }
    with pytest.raises(TenantGuardError):
        await env.client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [entry]})


async def test_not_found_names_the_resource_type(env: Env) -> None:
    with pytest.raises(NotFoundError) as info:
        await env.client.read(Observation, "absent")
    assert "Observation not found" in str(info.value)
    assert info.value.resource_type == "Observation"
