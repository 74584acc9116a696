"""Synthetic, realistic searchset pages of common clinical resource types (seeded, deterministic)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

TENANT = {"system": "https://clinikapi.com/tenant", "code": "org_a"}


def _meta(rnd: random.Random) -> dict[str, Any]:
    frac = rnd.choice(["", ".1", ".120", ".123456", ".5"])
    zone = rnd.choice(["Z", "+00:00", "-05:00", "+05:30"])
    return {
        "versionId": str(rnd.randint(1, 9)),
        "lastUpdated": f"2024-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}T1{rnd.randint(0, 9)}:"
        f"2{rnd.randint(0, 9)}:0{rnd.randint(0, 9)}{frac}{zone}",
        "tag": [dict(TENANT)],
    }


def _cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _decimal(rnd: random.Random) -> Decimal | int:
    # a mix of spellings, some of which a float cannot keep: 72.4, 98.0, 1.50, 0.250, 120
    return rnd.choice(
        [
            Decimal(f"{rnd.uniform(30, 200):.1f}"),
            Decimal(f"{rnd.randint(30, 200)}.0"),
            Decimal("1.50"),
            Decimal("0.250"),
            120,
        ]
    )


def observation(i: int, rnd: random.Random) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": _meta(rnd),
        "status": rnd.choice(["final", "amended", "preliminary"]),
        "category": [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")],
        "code": _cc("http://loinc.org", "8867-4", "Heart rate"),
        "subject": {"reference": f"Patient/pat-{i % 97}"},
        "effectiveDateTime": rnd.choice(["2024-01-02", "2024-01-02T10:15:00+01:00", "2024-01-02T10:15:00Z", "2024-01"]),
        "valueQuantity": {
            "value": _decimal(rnd),
            "unit": "beats/minute",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }
    if i % 5 == 0:
        obs["interpretation"] = [
            _cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "N", "Normal")
        ]
        obs["note"] = [{"text": "Resting, seated."}]
    if i % 7 == 0:
        obs["component"] = [
            {"code": _cc("http://loinc.org", "8480-6", "Systolic"), "valueQuantity": {"value": 120, "unit": "mmHg"}},
            {
                "code": _cc("http://loinc.org", "8462-4", "Diastolic"),
                "valueQuantity": {"value": Decimal("80.5"), "unit": "mmHg"},
            },
        ]
    return obs


def patient(i: int, rnd: random.Random) -> dict[str, Any]:
    pat: dict[str, Any] = {
        "resourceType": "Patient",
        "id": f"pat-{i}",
        "meta": _meta(rnd),
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"MRN{i:06d}"}],
        "active": rnd.random() < 0.9,
        "name": [{"use": "official", "family": rnd.choice(["Smith", "Nguyen", "García"]), "given": ["Ana", "Maria"]}],
        "telecom": [{"system": "phone", "value": f"+1 555 01{i % 100:02d}", "use": "home"}],
        "gender": rnd.choice(["male", "female", "other", "unknown"]),
        "birthDate": rnd.choice(["1980-04-12", "1975", "1990-07"]),
        "address": [{"line": ["1 Main St"], "city": "Springfield", "postalCode": "12345", "country": "US"}],
    }
    if i % 3 == 0:
        pat["deceasedBoolean"] = False
        pat["name"][0]["_given"] = [None, {"extension": [{"url": "http://example.org/x", "valueCode": "MN"}]}]
    if i % 4 == 0:
        pat["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1980-04-12T06:30:00-04:00",
            }
        ]
    return pat


def encounter(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{i}",
        "meta": _meta(rnd),
        "status": rnd.choice(["finished", "in-progress", "planned"]),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "type": [_cc("http://snomed.info/sct", "185349003", "Check up")],
        "subject": {"reference": f"Patient/pat-{i % 97}", "display": "Ana Smith"},
        "participant": [{"individual": {"reference": "Practitioner/pr-1"}}],
        "period": {"start": "2024-02-01T09:00:00+00:00", "end": "2024-02-01T09:30:00.250+00:00"},
        "length": {"value": Decimal("30.0"), "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
        "reasonCode": [_cc("http://snomed.info/sct", "44054006", "Diabetes")],
    }


def condition(i: int, rnd: random.Random) -> dict[str, Any]:
    return (
        {
            "resourceType": "Condition",
            "id": f"cond-{i}",
            "meta": _meta(rnd),
            "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
            "verificationStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
            ),
            "category": [
                _cc("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem")
            ],
            "code": _cc("http://snomed.info/sct", "44054006", "Diabetes mellitus type 2"),
            "subject": {"reference": f"Patient/pat-{i % 97}"},
            "onsetDateTime": "2019-03-01",
            "recordedDate": "2019-03-02T08:00:00Z",
        }
        if i % 11 == 0
        else {
            "resourceType": "Condition",
            "id": f"cond-{i}",
            "meta": _meta(rnd),
            "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved"),
            "code": _cc("http://snomed.info/sct", "195662009", "Acute viral pharyngitis"),
            "subject": {"reference": f"Patient/pat-{i % 97}"},
            "onsetAge": {"value": 42, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
            "abatementString": "after antibiotics",
        }
    )


def medication_request(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"mr-{i}",
        "meta": _meta(rnd),
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": _cc("http://www.nlm.nih.gov/research/umls/rxnorm", "860975", "Metformin 500 MG"),
        "subject": {"reference": f"Patient/pat-{i % 97}"},
        "authoredOn": "2024-03-01T12:00:00-07:00",
        "requester": {"reference": "Practitioner/pr-1"},
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": "500 mg twice daily",
                "timing": {
                    "repeat": {"frequency": 2, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]}
                },
                "doseAndRate": [
                    {"doseQuantity": {"value": 500, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
                ],
            }
        ],
        "dispenseRequest": {"numberOfRepeatsAllowed": 3, "quantity": {"value": Decimal("60.00"), "unit": "tablet"}},
    }


MAKERS = {
    "Observation": observation,
    "Patient": patient,
    "Encounter": encounter,
    "Condition": condition,
    "MedicationRequest": medication_request,
}


def searchset(resource_type: str, n: int, seed: int = 7) -> dict[str, Any]:
    """A searchset Bundle of ``n`` resources of one type, as a server would return it."""
    rnd = random.Random(seed)
    make = MAKERS[resource_type]
    base = "https://api.clinikapi.com/v1/fhir"
    return {
        "resourceType": "Bundle",
        "id": f"page-{resource_type}-{n}",
        "meta": {"lastUpdated": "2024-05-01T00:00:00Z"},
        "type": "searchset",
        "total": n,
        "link": [
            {"relation": "self", "url": f"{base}/{resource_type}?_count={n}"},
            {"relation": "next", "url": f"{base}/{resource_type}?_count={n}&_page_token=abc"},
        ],
        "entry": [
            {
                "fullUrl": f"{base}/{resource_type}/{res['id']}",
                "resource": res,
                "search": {"mode": "match"},
            }
            for res in (make(i, rnd) for i in range(n))
        ],
    }
