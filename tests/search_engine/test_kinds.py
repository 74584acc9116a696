"""Matching per parameter kind and modifier (string, token, number, quantity, uri, reference,
composite, :missing), OR with escaped commas, AND by repetition. Expected ids computed by hand."""

from __future__ import annotations

import pytest

from clinikfhir import Clinik
from clinikfhir.models import Condition
from clinikfhir.sandbox import Sandbox
from clinikfhir.sandbox.search import SearchError

from .conftest import Store

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


@pytest.fixture
def data(store: Store) -> Store:
    put = store.put
    put({"resourceType": "Organization", "id": "o1", "name": "Acme Clinic"})
    put(
        {
            "resourceType": "Patient",
            "id": "pa",
            "gender": "male",
            "active": True,
            "birthDate": "1970-01-01",
            "meta": {"profile": ["http://example.org/fhir/StructureDefinition/my-patient"]},
            "name": [{"family": "Smith", "given": ["John"]}],
            "identifier": [{"system": "urn:mrn", "value": "123", "type": {"coding": [{"system": V2, "code": "MR"}]}}],
            "telecom": [{"system": "email", "value": "a@x.org"}],
            "address": [{"city": "Zürich", "line": ["1 Main St"]}],
        }
    )
    put(
        {
            "resourceType": "Patient",
            "id": "pb",
            "gender": "female",
            "active": False,
            "name": [{"family": "Smíthers", "given": ["Ann"]}],
            "identifier": [{"system": "urn:other", "value": "123"}],
            "telecom": [{"system": "phone", "value": "555"}],
        }
    )
    put(
        {
            "resourceType": "Patient",
            "id": "pc",
            "gender": "other",
            "name": [{"family": "Jones, Jr", "given": ["Bo"]}],
            "identifier": [{"value": "a,b"}],
            "managingOrganization": {"reference": "Organization/o1"},
        }
    )
    put({"resourceType": "Patient", "id": "pd", "name": [{"text": "Mary Contains"}]})
    put(
        {
            "resourceType": "Observation",
            "id": "ob1",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}]},
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            "subject": {"reference": "Patient/pa"},
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "ob2",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
            "valueQuantity": {"value": 72.5, "unit": "beats/min", "system": UCUM, "code": "/min"},
            "subject": {"reference": "Patient/pb"},
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "ob3",
            "status": "preliminary",
            "code": {"text": "free text glucose"},
            "valueString": "High",
            "subject": {"reference": "http://other.org/fhir/Patient/pa"},
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "ob4",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "component": [
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueQuantity": {"value": 140, "system": UCUM, "code": "mm[Hg]"},
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                    "valueQuantity": {"value": 90, "system": UCUM, "code": "mm[Hg]"},
                },
            ],
            "subject": {"identifier": {"system": "urn:mrn", "value": "123"}},
        }
    )
    put(
        {
            "resourceType": "RiskAssessment",
            "id": "ra1",
            "status": "final",
            "subject": {"reference": "Patient/pa"},
            "prediction": [{"probabilityDecimal": 0.4}],
        }
    )
    put(
        {
            "resourceType": "RiskAssessment",
            "id": "ra2",
            "status": "final",
            "subject": {"reference": "Patient/pa"},
            "prediction": [{"probabilityRange": {"low": {"value": 0.2}, "high": {"value": 0.6}}}],
        }
    )
    return store


CASES = [
    # string: starts-with, case- and accent-insensitive; :exact; :contains; every name part
    ("Patient", "name=smith", "pa pb"),
    ("Patient", "family=SMI", "pa pb"),
    ("Patient", "given=jo", "pa"),
    ("Patient", "family:exact=Smith", "pa"),
    ("Patient", "family:exact=smith", ""),
    ("Patient", "family:contains=ith", "pa pb"),
    ("Patient", "family:contains=ONE", "pc"),
    ("Patient", "family=Jones\\, Jr", "pc"),
    ("Patient", "family=zzz,jon", "pc"),
    ("Patient", "address-city=zurich", "pa"),
    ("Patient", "address=1 main", "pa"),
    ("Patient", "address=main", ""),
    ("Patient", "address:contains=main", "pa"),
    ("Patient", "name=mary", "pd"),
    ("Patient", "family:missing=true", "pd"),
    ("Patient", "name=smith&name=john", "pa"),
    # token
    ("Patient", "gender=male", "pa"),
    ("Patient", "gender=male,female", "pa pb"),
    ("Patient", "gender:not=male", "pb pc pd"),
    ("Patient", "gender:missing=true", "pd"),
    ("Patient", "identifier=urn:mrn|123", "pa"),
    ("Patient", "identifier=123", "pa pb"),
    ("Patient", "identifier=|123", ""),
    ("Patient", "identifier=|a\\,b", "pc"),
    ("Patient", "identifier=urn:other|", "pb"),
    ("Patient", "identifier=a\\,b", "pc"),
    ("Patient", f"identifier:of-type={V2}|MR|123", "pa"),
    ("Patient", f"identifier:of-type={V2}|MR|999", ""),
    ("Patient", "active=true", "pa"),
    ("Patient", "active=false", "pb"),
    ("Patient", "email=a@x.org", "pa"),
    ("Patient", "phone=555", "pb"),
    ("Patient", "telecom=email|a@x.org", "pa"),
    ("Patient", "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender", "pa pb pc"),
    ("Patient", "gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender", "pd"),
    ("Observation", "code=8480-6", "ob1 ob4"),
    ("Observation", f"code={LOINC}|8867-4", "ob2"),
    ("Observation", "code:text=systolic", "ob1"),
    ("Observation", "code:text=free text gl", "ob3"),
    ("Observation", "code:text=FRÉE", "ob3"),  # case and accents ignored
    ("Observation", "code:text=glucose", ""),  # a string search: the text starts with the value
    ("Observation", "code:text=blood", ""),
    ("Observation", "code:text=heart rate", "ob2"),
    ("Observation", f"code:not={LOINC}|8480-6", "ob2 ob3"),
    ("Observation", "status:in=http://hl7.org/fhir/ValueSet/observation-status", "ob1 ob2 ob3 ob4"),
    ("Observation", "status=preliminary", "ob3"),
    # quantity: implicit precision for eq, value comparisons otherwise, system/code/unit
    ("Observation", "value-quantity=120", "ob1"),
    ("Observation", "value-quantity=72.5", "ob2"),
    ("Observation", "value-quantity=72", ""),
    ("Observation", "value-quantity=1.2e2", "ob1"),
    ("Observation", "value-quantity=gt100", "ob1"),
    ("Observation", "value-quantity=lt100||/min", "ob2"),
    ("Observation", f"value-quantity=120|{UCUM}|mm[Hg]", "ob1"),
    ("Observation", "value-quantity=120||mmHg", "ob1"),
    ("Observation", f"value-quantity=120|{UCUM}|/min", ""),
    ("Observation", "value-quantity=ap70", "ob2"),
    ("Observation", "value-quantity=ne120", "ob2"),
    ("Observation", "value-quantity=le72.5", "ob2"),
    ("Observation", "value-quantity=ge120", "ob1"),
    ("Observation", "value-quantity=sa119", "ob1"),
    ("Observation", "value-quantity=eb73", "ob2"),
    ("Observation", "value-string=hi", "ob3"),
    # number (decimal and Range targets)
    ("RiskAssessment", "probability=0.4", "ra1"),
    ("RiskAssessment", "probability=gt0.5", "ra2"),
    ("RiskAssessment", "probability=lt0.3", "ra2"),
    ("RiskAssessment", "probability=ge0.4", "ra1 ra2"),
    ("RiskAssessment", "probability=0.40", "ra1"),
    # composite: components must come from the same element
    ("Observation", f"component-code-value-quantity={LOINC}|8462-4$90", "ob4"),
    ("Observation", f"component-code-value-quantity={LOINC}|8462-4$gt100", ""),
    ("Observation", f"component-code-value-quantity={LOINC}|8480-6$gt100", "ob4"),
    ("Observation", f"code-value-quantity={LOINC}|8480-6$120", "ob1"),
    ("Observation", "code-value-quantity=8480-6$lt130,8867-4$72.5", "ob1 ob2"),
    ("Observation", f"combo-code-value-quantity={LOINC}|8462-4$90", "ob4"),
    # reference
    ("Observation", "subject=Patient/pa", "ob1"),
    ("Observation", "subject=pa", "ob1"),
    ("Observation", "patient=pa", "ob1"),
    ("Observation", "subject:Patient=pb", "ob2"),
    ("Observation", "subject:Group=pb", ""),
    ("Observation", "subject=http://other.org/fhir/Patient/pa", "ob3"),
    ("Observation", "subject:identifier=urn:mrn|123", "ob4"),
    ("Observation", "subject:missing=true", ""),
    ("Observation", "subject=Patient/pa,Patient/pb", "ob1 ob2"),
    ("Patient", "organization=Organization/o1", "pc"),
    # uri
    ("Patient", "_profile=http://example.org/fhir/StructureDefinition/my-patient", "pa"),
    ("Patient", "_profile:below=http://example.org/fhir", "pa"),
    ("Patient", "_profile:above=http://example.org/fhir/StructureDefinition/my-patient/v2", "pa"),
    ("Patient", "_profile=http://example.org", ""),
    ("Patient", "_profile:missing=true", "pb pc pd"),
]


@pytest.mark.parametrize(("rtype", "query", "expected"), CASES)
def test_kinds(data: Store, rtype: str, query: str, expected: str) -> None:
    assert sorted(data.ids(rtype, query)) == sorted(expected.split())


@pytest.mark.parametrize(
    ("rtype", "query"),
    [
        ("Patient", "gender:exact=male"),  # modifier of another kind
        ("Patient", "name:below=zzq"),
        ("Observation", "date:text=zzq"),
        ("Observation", "subject:Medication=zzq"),  # not a target of subject
        ("Observation", "code:in=http://example.org/unknown-vs"),
        ("Observation", "value-quantity=abc"),
        ("Observation", "value-quantity=1|2"),
        ("Observation", "code-value-quantity=8480-6"),
        ("Patient", "identifier=a|b|c"),
        ("Patient", "_content:exact=zzq"),
        ("Location", "near=1|2|3|furlong"),
        ("Patient", "active:missing=maybe"),
    ],
)
def test_invalid_or_unsupported_is_400_naming_the_parameter(data: Store, rtype: str, query: str) -> None:
    name = query.split("=")[0]
    with pytest.raises(SearchError) as err:
        data.ids(rtype, query)
    assert err.value.status == 400
    assert err.value.code == "INVALID_PARAMETER"
    assert name.split(":")[0] in err.value.message
    value = query.split("=", 1)[1]
    assert value not in err.value.message


def test_lenient_drops_unsupported_modifiers_with_a_warning(data: Store) -> None:
    result = data.run("Patient", "gender:exact=male&family=smith", lenient=True)
    assert sorted(result.ids) == ["pa", "pb"]
    assert result.warnings
    assert all("male" not in w for w in result.warnings)


def test_full_text_content_and_narrative(store: Store) -> None:
    store.put(
        {
            "resourceType": "Patient",
            "id": "n1",
            "name": [{"family": "Müller", "given": ["Anna"]}],
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">Seen &amp; <b>discharged</b> home</div>',
            },
        }
    )
    store.put(
        {"resourceType": "Patient", "id": "n2", "name": [{"family": "Home"}], "meta": {"tag": [{"code": "muller"}]}}
    )
    assert store.ids("Patient", "_content=muller") == ["n1"]  # meta is not content
    assert store.ids("Patient", "_content=anna mull") == ["n1"]
    assert store.ids("Patient", "_content=anna jones") == []
    assert store.ids("Patient", "_content=zzz,home") == ["n2"]
    assert store.ids("Patient", "_text=discharged home") == ["n1"]
    assert store.ids("Patient", [("_text", "seen & discharged")]) == ["n1"]
    assert store.ids("Patient", "_text=anna") == []  # names are not narrative
    assert store.ids("Patient", "_text:missing=true") == ["n2"]
    assert store.ids("Patient", "_text:contains=charg") == ["n1"]
    store.put({"resourceType": "Patient", "id": "n1", "name": [{"family": "Other"}]})
    assert store.ids("Patient", "_text=discharged") == []
    assert store.ids("Patient", "_content=muller") == []


def test_near(store: Store) -> None:
    # great-circle distances from Amsterdam (52.3676, 4.9041): Haarlem ~17.6 km, Utrecht ~34 km,
    # London ~357 km
    for rid, lat, lon in (
        ("ams", 52.3676, 4.9041),
        ("haa", 52.3874, 4.6462),
        ("utr", 52.0907, 5.1214),
        ("lon", 51.5074, -0.1278),
    ):
        store.put({"resourceType": "Location", "id": rid, "position": {"latitude": lat, "longitude": lon}})
    store.put({"resourceType": "Location", "id": "nowhere", "name": "x"})
    here = "52.3676|4.9041"
    assert store.ids("Location", f"near={here}|20|km") == ["ams", "haa"]
    assert store.ids("Location", f"near={here}|10") == ["ams"]
    assert store.ids("Location", f"near={here}") == ["ams"]  # 10 km by default
    assert store.ids("Location", f"near={here}|40|km") == ["ams", "haa", "utr"]
    assert store.ids("Location", f"near={here}|25|mi") == ["ams", "haa", "utr"]
    assert store.ids("Location", f"near={here}|17000|m") == ["ams"]
    assert store.ids("Location", f"near={here}|18000|m") == ["ams", "haa"]
    assert store.ids("Location", f"near={here}|400|km") == ["ams", "haa", "lon", "utr"]
    assert store.ids("Location", "near=51.5|-0.13|5|km,52.09|5.12|5|km") == ["lon", "utr"]
    assert store.ids("Location", "near:missing=true") == ["nowhere"]
    for bad in ("near=91|0|1", "near=x|y", "near=52|4|-1", "near=52|4|1|furlong", "near=52"):
        with pytest.raises(SearchError):
            store.ids("Location", bad)


def test_token_text_is_a_string_search_for_the_builder_and_the_engine(served_sandbox: Sandbox, api_key: str) -> None:
    """The client's ``.text()`` (documented as starts-with) and the engine agree, over HTTP."""
    with Clinik(api_key, base_url=served_sandbox.base_url) as clinik:
        clinik.create(
            Condition.model_validate(
                {
                    "resourceType": "Condition",
                    "subject": {"reference": "Patient/x"},
                    "code": {"text": "Acute viral pharyngitis"},
                }
            )
        )

        def found(text: str) -> int:
            return len(clinik.search(Condition).code.text(text).page().resources)

        assert found("acute vir") == 1
        assert found("ACUTE") == 1
        assert found("viral") == 0
        assert found("pharyngitis") == 0
