"""Synthea-shaped test data, generated deterministically: per patient a transaction Bundle of
``urn:uuid`` entries (Patient, Encounters, Conditions, Observations, Claims) whose Encounters and
Claims point at shared Organizations and Practitioners through conditional references
(``Organization?identifier=...``), plus the ``hospitalInformation`` and ``practitionerInformation``
Bundles that create those with ``ifNoneExist``, as Synthea writes them.

Used by tests/cli and by benchmarks/bench_load.py.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

SYNTHEA = "https://github.com/synthetichealth/synthea"
NPI = "http://hl7.org/fhir/sid/us-npi"
ORGS = 3
PRACTITIONERS = 4

_VITALS = [
    ("8867-4", "Heart rate", "/min", 55, 110),
    ("9279-1", "Respiratory rate", "/min", 12, 20),
    ("29463-7", "Body Weight", "kg", 50, 110),
    ("8302-2", "Body Height", "cm", 150, 195),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 18, 35),
]
_CONDITIONS = [
    ("44054006", "Diabetes"),
    ("38341003", "Hypertension"),
    ("195662009", "Acute viral pharyngitis (disorder)"),
    ("10509002", "Acute bronchitis (disorder)"),
]


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def org_ref(i: int) -> str:
    return f"Organization?identifier={SYNTHEA}|org-{i:04d}"


def practitioner_ref(i: int) -> str:
    return f"Practitioner?identifier={NPI}|99999{i:05d}"


def hospital_information() -> dict[str, Any]:
    """The shared Organizations, created with ``ifNoneExist`` on their identifier."""
    entries = []
    for i in range(ORGS):
        org = {
            "resourceType": "Organization",
            "identifier": [{"system": SYNTHEA, "value": f"org-{i:04d}"}],
            "active": True,
            "type": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}
            ],
            "name": f"General Hospital {i}",
        }
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.UUID(int=i + 1, version=4)}",
                "resource": org,
                "request": {
                    "method": "POST",
                    "url": "Organization",
                    "ifNoneExist": f"identifier={SYNTHEA}|org-{i:04d}",
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def practitioner_information() -> dict[str, Any]:
    """The shared Practitioners, created with ``ifNoneExist`` on their NPI."""
    entries = []
    for i in range(PRACTITIONERS):
        npi = f"99999{i:05d}"
        prac = {
            "resourceType": "Practitioner",
            "identifier": [{"system": NPI, "value": npi}],
            "active": True,
            "name": [{"family": f"Doctor{i}", "given": ["Alex"], "prefix": ["Dr."]}],
            "gender": "female" if i % 2 else "male",
        }
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.UUID(int=1000 + i, version=4)}",
                "resource": prac,
                "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": f"identifier={NPI}|{npi}"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def patient_bundle(seed: int, encounters: int = 3, observations: int = 4) -> dict[str, Any]:
    """One patient's transaction Bundle: 1 + encounters * (1 + observations + 1 condition + 1 claim) entries."""
    rng = random.Random(seed)
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> str:
        full_url = f"urn:uuid:{_uid(rng)}"
        entries.append(
            {"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
        )
        return full_url

    pid = add(
        {
            "resourceType": "Patient",
            "identifier": [
                {"system": SYNTHEA, "value": _uid(rng)},
                {
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                    "system": "http://hospital.smarthealthit.org",
                    "value": _uid(rng),
                },
            ],
            "name": [{"use": "official", "family": f"Family{seed}", "given": [f"Given{seed}"]}],
            "telecom": [{"system": "phone", "value": f"555-{seed % 10000:04d}", "use": "home"}],
            "gender": rng.choice(["male", "female"]),
            "birthDate": f"{rng.randint(1940, 2015)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            "address": [{"line": [f"{seed} Main St"], "city": "Boston", "state": "MA", "country": "US"}],
            "maritalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]
            },
        }
    )
    for e in range(encounters):
        day = f"20{10 + e:02d}-0{1 + rng.randint(0, 8)}-1{rng.randint(0, 9)}"
        start, end = f"{day}T09:00:00-05:00", f"{day}T09:30:00-05:00"
        org, prac = rng.randrange(ORGS), rng.randrange(PRACTITIONERS)
        enc = add(
            {
                "resourceType": "Encounter",
                "identifier": [{"use": "official", "system": SYNTHEA, "value": _uid(rng)}],
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [
                    {
                        "coding": [{"system": "http://snomed.info/sct", "code": "185349003"}],
                        "text": "Encounter for check up",
                    }
                ],
                "subject": {"reference": pid},
                "participant": [{"individual": {"reference": practitioner_ref(prac), "display": f"Dr. Doctor{prac}"}}],
                "period": {"start": start, "end": end},
                "serviceProvider": {"reference": org_ref(org), "display": f"General Hospital {org}"},
            }
        )
        code, text = rng.choice(_CONDITIONS)
        add(
            {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "verificationStatus": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
                    ]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "encounter-diagnosis",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": text}], "text": text},
                "subject": {"reference": pid},
                "encounter": {"reference": enc},
                "onsetDateTime": start,
                "recordedDate": start,
            }
        )
        for o in range(observations):
            loinc, name, unit, low, high = _VITALS[o % len(_VITALS)]
            add(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": name}], "text": name},
                    "subject": {"reference": pid},
                    "encounter": {"reference": enc},
                    "effectiveDateTime": start,
                    "issued": f"{day}T09:00:00.000-05:00",
                    "valueQuantity": {
                        "value": round(rng.uniform(low, high), 1),
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
            )
        add(
            {
                "resourceType": "Claim",
                "status": "active",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]
                },
                "use": "claim",
                "patient": {"reference": pid},
                "billablePeriod": {"start": start, "end": end},
                "created": end,
                "provider": {"reference": org_ref(org)},
                "priority": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]
                },
                "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicare"}}],
                "item": [
                    {
                        "sequence": 1,
                        "productOrService": {"coding": [{"system": "http://snomed.info/sct", "code": "185349003"}]},
                        "encounter": [{"reference": enc}],
                    }
                ],
                "total": {"value": round(rng.uniform(50, 500), 2), "currency": "USD"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def entries_per_patient(encounters: int = 3, observations: int = 4) -> int:
    """How many resources :func:`patient_bundle` writes."""
    return 1 + encounters * (3 + observations)
