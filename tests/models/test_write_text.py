"""Issue 12: a write sends dates and times exactly as the user wrote them, however the model was built
(``model_validate``, the constructor, assignment, a read), and the server stores that text."""

from __future__ import annotations

import pickle
import re
from typing import Any

import httpx
import pytest

from clinikfhir import Clinik, Transaction
from clinikfhir.models import Observation, Patient, decode, dump, parse
from clinikfhir.sandbox import Sandbox

TEXTS = {
    "birthDate": "1990-01-05",
    "deceasedDateTime": "2020-01-01T00:00:00.000Z",
    "lastUpdated": "2020-01-01T10:20:30.1234567+01:00",
    "instant": "2000-02-29T19:08:38.45-05:30",
    "time": "10:00:00.50",
    "date-only dateTime": "2021-03-04",
    "leap second": "2016-12-31T23:59:60Z",
}


def patient_json() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "meta": {"lastUpdated": TEXTS["lastUpdated"]},
        "extension": [
            {"url": "http://example.org/instant", "valueInstant": TEXTS["instant"]},
            {"url": "http://example.org/time", "valueTime": TEXTS["time"]},
            {"url": "http://example.org/date", "valueDateTime": TEXTS["date-only dateTime"]},
            {"url": "http://example.org/leap", "valueInstant": TEXTS["leap second"]},
        ],
        "birthDate": TEXTS["birthDate"],
        "deceasedDateTime": TEXTS["deceasedDateTime"],
    }


def by_hand() -> Patient:
    from clinikfhir.models import Extension, Meta

    return Patient(
        meta=Meta(lastUpdated=TEXTS["lastUpdated"]),
        extension=[
            Extension(url="http://example.org/instant", valueInstant=TEXTS["instant"]),
            Extension(url="http://example.org/time", valueTime=TEXTS["time"]),
            Extension(url="http://example.org/date", valueDateTime=TEXTS["date-only dateTime"]),
            Extension(url="http://example.org/leap", valueInstant=TEXTS["leap second"]),
        ],
        birthDate=TEXTS["birthDate"],
        deceasedDateTime=TEXTS["deceasedDateTime"],
    )


BUILDERS = {
    "model_validate": lambda: Patient.model_validate(patient_json()),
    "model_validate_json": lambda: Patient.model_validate_json(dump(parse(patient_json()))),
    "constructor": by_hand,
    "read (trusted path)": lambda: parse(patient_json()),
    "strict read": lambda: parse(patient_json(), strict=True),
}


@pytest.mark.parametrize("how", BUILDERS)
def test_the_model_writes_the_users_text(how: str) -> None:
    model = BUILDERS[how]()
    assert decode(dump(model)) == patient_json()
    assert model == parse(patient_json())  # the values are the plain ones, equal to a read's
    assert decode(dump(pickle.loads(pickle.dumps(model)))) == patient_json()


def test_assignment_keeps_the_new_text_and_a_computed_value_is_spelt_by_fhir() -> None:
    import datetime as dt

    p = Patient.model_validate(patient_json())
    p.deceasedDateTime = "2024-05-06T07:08:09.000+00:00"
    assert decode(dump(p))["deceasedDateTime"] == "2024-05-06T07:08:09.000+00:00"
    p.deceasedDateTime = p.deceasedDateTime + dt.timedelta(days=1)  # no text of the user's: ISO 8601
    assert decode(dump(p))["deceasedDateTime"] == "2024-05-07T07:08:09+00:00"
    p.birthDate = dt.date(1990, 1, 5)
    assert decode(dump(p))["birthDate"] == "1990-01-05"


def test_invalid_dates_are_still_refused_with_their_path_only() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Patient.model_validate({"resourceType": "Patient", "birthDate": "2019-02-30"})
    assert [e["loc"] for e in caught.value.errors()] == [("birthDate",)]


def stored(sandbox: Sandbox, key: str, path: str) -> dict[str, Any]:
    """The resource as the server returns it, raw (not through the client's models)."""
    with sandbox.client(key) as http:
        response = http.get(f"/v1/fhir/{path}")
        response.raise_for_status()
        return dict(httpx.Response(200, content=response.content).json())


@pytest.mark.parametrize("how", ["model_validate", "constructor"])
def test_the_server_stores_exactly_the_users_text(served_sandbox: Sandbox, api_key: str, how: str) -> None:
    with Clinik(api_key, base_url=served_sandbox.base_url) as clinik:
        created = clinik.create(BUILDERS[how]())
        assert created.id is not None
        raw = stored(served_sandbox, api_key, f"Patient/{created.id}")
        assert raw["birthDate"] == TEXTS["birthDate"]
        assert raw["deceasedDateTime"] == "2020-01-01T00:00:00.000Z"
        assert [e.get("valueInstant") or e.get("valueTime") or e.get("valueDateTime") for e in raw["extension"]] == [
            TEXTS["instant"],
            "10:00:00.50",
            "2021-03-04",
            TEXTS["leap second"],
        ]
        # an update keeps them too, and a read gives back the same text
        created.deceasedDateTime = "2020-01-01T00:00:00.1234567+01:00"
        clinik.update(created)
        raw = stored(served_sandbox, api_key, f"Patient/{created.id}")
        assert raw["deceasedDateTime"] == "2020-01-01T00:00:00.1234567+01:00"
        assert decode(dump(clinik.read(Patient, created.id)))["deceasedDateTime"] == raw["deceasedDateTime"]


def test_a_transaction_sends_the_users_text(served_sandbox: Sandbox, api_key: str) -> None:
    obs = Observation.model_validate(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "weight"},
            "effectiveDateTime": "2020-01-01T00:00:00.000Z",
            "issued": "2020-01-01T00:00:00.1234567+01:00",
        }
    )
    with Clinik(api_key, base_url=served_sandbox.base_url) as clinik:
        tx = Transaction()
        tx.create(obs)
        [entry] = clinik.transaction(tx).entries
        found = re.search(r"Observation/[A-Za-z0-9\-.]+", entry.location or "")
        assert found is not None
        raw = stored(served_sandbox, api_key, found.group(0))
    assert raw["effectiveDateTime"] == "2020-01-01T00:00:00.000Z"
    assert raw["issued"] == "2020-01-01T00:00:00.1234567+01:00"
