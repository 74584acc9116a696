"""Each rule of local validation, one behaviour at a time, on small hand-written resources."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from clinikfhir.validation import Issue, has_errors, to_operation_outcome, validate

from ._corpus import load

MARKER = "Zq9-secret-value"


def errors(data: Any, **kw: Any) -> list[tuple[str, str]]:
    """(rule key, path) of every blocking issue."""
    return [(i.key, i.path) for i in validate(data, **kw) if i.is_error]


def patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


def observation(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **fields}


# -- structure and primitives: judged on the raw JSON, no coercion ---------------------------------


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("active", "yes", "type"),
        ("active", "true", "type"),
        ("active", 1, "type"),
        ("multipleBirthInteger", "1", "type"),
        ("multipleBirthInteger", 1.5, "type"),
        ("multipleBirthInteger", True, "type"),
        ("multipleBirthInteger", 2**31, "format"),
        ("birthDate", "1990-13-01", "format"),
        ("birthDate", "1990-1-1", "format"),
        ("birthDate", "1990-01-01T00:00:00Z", "format"),
        ("deceasedDateTime", "2020-01-01T10:00:00", "format"),  # a time needs a zone
        ("deceasedDateTime", "2020-01-01T25:00:00Z", "format"),
        ("gender", "", "format"),
        ("gender", "male ", "format"),
        ("gender", 3, "type"),
        ("id", "a" * 65, "id"),
        ("id", "has space", "id"),
        ("id", "under_score", "id"),
        ("implicitRules", "has space", "format"),
    ],
)
def test_primitive_values_are_judged_strictly(field: str, value: Any, key: str) -> None:
    issues = validate(patient(**{field: value}))
    assert [(i.key, i.path) for i in issues if i.is_error] == [(key, f"Patient.{field}")]
    assert all(str(value) not in i.message for i in issues if len(str(value)) > 5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("active", True),
        ("multipleBirthInteger", 2),
        ("birthDate", "1990"),
        ("birthDate", "1990-02"),
        ("deceasedDateTime", "2020-01-01T10:00:00.123+05:30"),
        ("id", "a" * 64),
        ("id", "A-1.b"),
    ],
)
def test_valid_primitive_values_pass(field: str, value: Any) -> None:
    assert errors(patient(**{field: value})) == []


# -- calendar dates: R4 "dates SHALL be valid dates", beyond the patterns' 31 days in every month ------


@pytest.mark.parametrize(
    ("path", "value", "valid"),
    [
        ("birthDate", "2019-02-30", False),
        ("birthDate", "2019-04-31", False),
        ("birthDate", "2019-02-29", False),  # not a leap year
        ("birthDate", "1900-02-29", False),  # divisible by 100, not by 400
        ("birthDate", "2020-02-29", True),
        ("birthDate", "2000-02-29", True),  # divisible by 400
        ("birthDate", "2019-04-30", True),
        ("birthDate", "2019-12-31", True),
        ("birthDate", "2019", True),  # partial dates name no day
        ("birthDate", "2019-02", True),
        ("deceasedDateTime", "2019-02-30", False),
        ("deceasedDateTime", "2019-02-30T10:00:00+01:00", False),
        ("deceasedDateTime", "2019-06-31T10:00:00Z", False),
        ("deceasedDateTime", "2020-02-29T10:00:00Z", True),
        ("deceasedDateTime", "2019-02", True),
        ("meta.lastUpdated", "2019-02-30T10:00:00Z", False),
        ("meta.lastUpdated", "2019-02-28T10:00:00Z", True),
        ("meta.lastUpdated", "2016-12-31T23:59:60Z", True),  # a leap second: the day is real
    ],
)
def test_dates_must_be_days_of_the_calendar(path: str, value: str, valid: bool) -> None:
    data: dict[str, Any] = (
        patient(meta={"lastUpdated": value}) if path == "meta.lastUpdated" else patient(**{path: value})
    )
    issues = validate(data)
    assert [(i.key, i.path) for i in issues if i.is_error] == ([] if valid else [("format", f"Patient.{path}")])
    assert all(value not in i.message for i in issues)


def test_an_instant_on_a_day_that_does_not_exist_is_refused() -> None:
    data = observation(issued="2000-02-30T19:08:38.458+00:00", effectiveInstant="2000-02-30T19:08:38Z")
    issues = [i for i in validate(data) if i.is_error]
    assert [(i.key, i.path) for i in issues] == [
        ("format", "Observation.issued"),
        ("format", "Observation.effectiveInstant"),
    ]
    assert [i.message for i in issues] == ["is not a valid instant: no such day in that month"] * 2
    ext = patient(extension=[{"url": "http://example.org/e", "valueDate": "2021-02-29"}])
    assert errors(ext) == [("format", "Patient.extension[0].valueDate")]


@pytest.mark.parametrize(
    ("type_path", "value", "ok"),
    [
        ("instant", "2020-01-01T10:00:00Z", True),
        ("instant", "2020-01-01", False),
        ("time", "10:00:00", True),
        ("time", "10:00", False),
        ("oid", "urn:oid:1.2.3", True),
        ("oid", "1.2.3", False),
        ("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", True),
        ("uuid", "urn:uuid:C757873D", False),
        ("positiveInt", 1, True),
        ("positiveInt", 0, False),
        ("unsignedInt", 0, True),
        ("unsignedInt", -1, False),
        ("decimal", 1.50, True),
        ("decimal", Decimal("1.50"), True),  # the models' lossless decimals
        ("decimal", "1.5", False),
        ("base64Binary", "aGVsbG8=", True),
        ("base64Binary", "not base64!", False),
        ("code", "a b", True),
        ("code", "a  b", False),
    ],
)
def test_extension_values_of_every_primitive_type(type_path: str, value: Any, ok: bool) -> None:
    key = "value" + type_path[0].upper() + type_path[1:]
    data = patient(extension=[{"url": "http://example.org/e", key: value}])
    assert (errors(data) == []) is ok, errors(data)


def test_unknown_elements_are_rejected_with_their_path() -> None:
    data = patient(name=[{"family": "A", "nickname": MARKER}], bogus=1, _active={"extension": []})
    assert sorted(errors(data)) == [
        ("structure", "Patient.active.extension"),  # an empty array
        ("unknown-element", "Patient.bogus"),
        ("unknown-element", "Patient.name[0].nickname"),
    ]


def test_r4b_only_elements_are_not_r4() -> None:
    # fhir.resources' R4B model has ActivityDefinition.subjectCanonical; R4 does not
    from fhir.resources.R4B.activitydefinition import ActivityDefinition

    data = {"resourceType": "ActivityDefinition", "status": "draft", "subjectCanonical": "http://x.org/g"}
    ActivityDefinition.model_validate(data)
    assert errors(data) == [("unknown-element", "ActivityDefinition.subjectCanonical")]
    # and a cardinality that differs: EvidenceVariable.characteristic is 1..* in R4, 0..* in R4B
    from fhir.resources.R4B.evidencevariable import EvidenceVariable

    ev = {"resourceType": "EvidenceVariable", "status": "draft"}
    EvidenceVariable.model_validate(ev)
    assert errors(ev) == [("cardinality", "EvidenceVariable.characteristic")]


def test_array_shapes_and_cardinality() -> None:
    assert errors(patient(name={"family": "A"})) == [("structure", "Patient.name")]
    assert errors(patient(gender=["male"])) == [("cardinality", "Patient.gender")]
    assert errors(patient(name=[])) == [("structure", "Patient.name")]
    assert errors(patient(name=[None])) == [("structure", "Patient.name[0]")]
    assert errors({"resourceType": "Observation", "code": {"text": "x"}}) == [("cardinality", "Observation.status")]
    assert errors({"resourceType": "Observation", "status": "final"}) == [("cardinality", "Observation.code")]
    assert errors(observation(valueString="a", valueBoolean=True)) == [("cardinality", "Observation.valueBoolean")]
    missing_choice = {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"text": "x"},
        "patient": {"reference": "Patient/1"},
    }
    assert errors(missing_choice) == [("cardinality", "Immunization.occurrence[x]")]


def test_primitive_extensions_and_choice_types() -> None:
    # fhir.resources issue #204: `_valueCode` on Extension.value[x] is valid R4
    ext = {
        "url": "http://example.org/e",
        "_valueCode": {"extension": [{"url": "http://example.org/x", "valueString": "v"}]},
    }
    assert errors(patient(extension=[ext])) == []
    # a primitive repeated with its extensions aligned by index, values absent where null
    name = {"given": ["A", None], "_given": [None, {"extension": [{"url": "http://e.org/x", "valueBoolean": True}]}]}
    assert errors(patient(name=[name])) == []
    misaligned = {"given": ["A"], "_given": [None, None]}
    assert errors(patient(name=[misaligned])) == [("structure", "Patient.name[0].given")]
    # a primitive present only through an extension still satisfies min 1
    status_ext = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
    }
    assert errors({"resourceType": "Observation", "_status": status_ext, "code": {"text": "x"}}) == []
    # `_x` for a complex element is not a thing
    assert errors(patient(_name=[{"id": "a"}])) == [("unknown-element", "Patient._name")]


def test_r4_only_types_are_validated_from_the_definitions() -> None:
    data = load("MedicinalProduct-example.json")
    assert errors(data) == []
    data["bogus"] = 1
    data["name"][0]["productName"] = 7
    assert sorted(errors(data)) == [
        ("type", "MedicinalProduct.name[0].productName"),
        ("unknown-element", "MedicinalProduct.bogus"),
    ]


def test_not_a_resource() -> None:
    assert errors([]) == [("structure", "Resource")]
    assert errors({"id": "x"}) == [("structure", "Resource")]
    # the caller's unknown type is not echoed: a fixed path
    assert errors({"resourceType": "Patientt"}) == [("structure", "Resource.resourceType")]
    assert errors({"resourceType": "Element"}) == [("structure", "Resource.resourceType")]
    assert validate({"resourceType": "Patientt"})[0].severity == "error"


# -- required bindings ------------------------------------------------------------------------------


def test_required_code_binding() -> None:
    assert errors(patient(gender=MARKER)) == [("binding", "Patient.gender")]
    assert errors(observation(status="bogus")) == [("binding", "Observation.status")]
    assert errors(patient(gender="unknown")) == []
    # nested, in a datatype: Quantity.comparator, ContactPoint.system
    assert errors(observation(valueQuantity={"value": 1, "comparator": "=="})) == [
        ("binding", "Observation.valueQuantity.comparator")
    ]
    assert errors(patient(telecom=[{"system": "pager", "value": "1"}])) == []
    assert errors(patient(telecom=[{"system": "carrier-pigeon", "value": "1"}])) == [
        ("binding", "Patient.telecom[0].system")
    ]


def test_required_codeable_concept_and_coding_bindings() -> None:
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"

    def condition(clinical: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": clinical}

    assert errors(condition({"coding": [{"system": system, "code": "active"}]})) == []
    # one coding from the set among others is enough
    other = {"system": "http://snomed.info/sct", "code": "55561003"}
    assert errors(condition({"coding": [other, {"system": system, "code": "active"}]})) == []
    # a code from the set under another system is not
    assert errors(condition({"coding": [{"system": "http://example.org", "code": "active"}]})) == [
        ("binding", "Condition.clinicalStatus")
    ]
    assert errors(condition({"coding": [{"system": system, "code": MARKER}]})) == [
        ("binding", "Condition.clinicalStatus")
    ]
    # required: text alone carries no code from the set
    assert errors(condition({"text": "active"})) == [("binding", "Condition.clinicalStatus")]


def test_required_coding_binding() -> None:
    # R4 core binds no Coding-typed element with strength required (only code and CodeableConcept),
    # so the Coding rule is exercised on the walker directly
    from clinikfhir._generated.validation_schema import NODES
    from clinikfhir.validation._validate import _Walker

    bound_types = {line.split(" ")[3] for _, lines in NODES.values() for line in lines if line.split(" ")[4] != "-"}
    assert bound_types == {"code", "CodeableConcept"}
    url = "http://hl7.org/fhir/ValueSet/condition-clinical"
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    walker = _Walker()
    judged: list[bool] = []
    for coding in (
        {"system": system, "code": "active"},
        {"code": "active"},  # no system: the code alone is judged
        {"system": "http://example.org", "code": "active"},
        {"system": system, "code": "nope"},
    ):
        problems: list[tuple[str, str, str, str]] = []
        walker._coding_binding(coding, url, problems)
        judged.append(not problems)
        assert all(key == "binding" for _, _, _, key in problems)
    assert judged == [True, True, False, False]


def test_binding_errors_list_the_allowed_codes_never_the_value() -> None:
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    [issue] = validate(patient(gender=MARKER), level="error")
    assert str(issue) == (
        f"error: Patient.gender: code is not in the required value set {gender} "
        "(allowed: female, male, other, unknown) [binding]"
    )
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    clinical = {"coding": [{"system": system, "code": MARKER}]}
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": clinical}
    [issue] = validate(condition, level="error")
    assert issue.message == (
        "no coding from the required value set http://hl7.org/fhir/ValueSet/condition-clinical "
        f"(allowed: active, inactive, recurrence, relapse, remission, resolved from {system})"
    )
    # a long value set: the first ten codes, then how many more
    [issue] = validate({"resourceType": "Questionnaire", "status": "draft", "subjectType": [MARKER]}, level="error")
    assert issue.message.endswith(
        "(allowed: Account, ActivityDefinition, AdverseEvent, AllergyIntolerance, Appointment, "
        "AppointmentResponse, AuditEvent, Basic, Binary, BiologicallyDerivedProduct, ... (138 more))"
    )
    assert all(MARKER not in str(i) for i in validate(condition) + validate(patient(gender=MARKER)))


def test_binding_errors_name_each_system_of_a_value_set_with_several() -> None:
    from clinikfhir._structure import allowed_codes

    assert allowed_codes("http://hl7.org/fhir/ValueSet/task-intent", systems=True) == (
        "filler-order, instance-order, option, order, original-order, plan, proposal, reflex-order "
        "from http://hl7.org/fhir/request-intent; unknown from http://hl7.org/fhir/task-intent"
    )
    assert allowed_codes("http://hl7.org/fhir/ValueSet/all-types", systems=True) == (
        "Any, Type from http://hl7.org/fhir/abstract-types; Address, Age, Annotation, Attachment, "
        "BackboneElement, CodeableConcept, Coding, ContactDetail from http://hl7.org/fhir/data-types; ... (203 more)"
    )


def test_value_sets_that_cannot_be_enumerated_are_skipped() -> None:
    # Attachment.contentType is bound (required) to BCP-13 mime types: not enumerable from the package
    data = patient(photo=[{"contentType": "application/x-made-up", "url": "http://example.org/p.png"}])
    assert errors(data) == []


def test_partially_listed_value_sets_are_skipped_though_the_search_engine_uses_their_codes() -> None:
    # UCUM is a grammar: the package lists ~1,000 common units, so a unit outside them is still valid
    from clinikfhir.sandbox.search._valuesets import value_set_codes

    ucum = "http://hl7.org/fhir/ValueSet/ucum-units"
    codes = value_set_codes(ucum)
    assert codes is not None
    assert ("http://unitsofmeasure.org", "mg") in codes
    assert ("http://unitsofmeasure.org", "{MadeUpUnit}/wk") not in codes
    data = {
        "resourceType": "RiskEvidenceSynthesis",
        "status": "draft",
        "population": {"reference": "EvidenceVariable/p"},
        "outcome": {"reference": "EvidenceVariable/o"},
        "riskEstimate": {
            "unitOfMeasure": {"coding": [{"system": "http://unitsofmeasure.org", "code": "{MadeUpUnit}/wk"}]}
        },
    }
    assert errors(data) == []


# -- reference targets ------------------------------------------------------------------------------


def test_reference_targets() -> None:
    assert errors(observation(subject={"reference": "Patient/p1"})) == []
    assert errors(observation(subject={"reference": "Group/g1/_history/2"})) == []
    assert errors(observation(subject={"reference": "Medication/m1"})) == [
        ("reference-target", "Observation.subject.reference")
    ]
    assert errors(observation(subject={"reference": "https://fhir.example.org/r4/Practitioner/x"})) == [
        ("reference-target", "Observation.subject.reference")
    ]
    assert errors(observation(subject={"reference": "https://fhir.example.org/r4/Patient/x"})) == []
    assert errors(observation(subject={"reference": "http://example.org/not/fhir/shaped"})) == []
    assert errors(observation(subject={"type": "Medication", "display": "x"})) == [
        ("reference-target", "Observation.subject.type")
    ]
    assert errors(observation(subject={"reference": "Patient"})) == [("reference", "Observation.subject.reference")]
    assert errors(observation(subject={"reference": "Patientt/1"})) == [("reference", "Observation.subject.reference")]
    # conditional references of transactions are typed by their resource type
    assert errors(observation(subject={"reference": "Patient?identifier=http://x.org|1"})) == []
    assert errors(observation(subject={"reference": "Medication?code=1"})) == [
        ("reference-target", "Observation.subject.reference")
    ]
    # Resource-typed targets accept anything
    assert errors(observation(focus=[{"reference": "Medication/m1"}])) == []


def test_contained_references_resolve_to_their_type() -> None:
    med = {"resourceType": "Medication", "id": "m"}
    ok = observation(contained=[{"resourceType": "Patient", "id": "p"}], subject={"reference": "#p"})
    assert errors(ok) == []
    wrong = observation(contained=[med], subject={"reference": "#m"})
    assert errors(wrong) == [("reference-target", "Observation.subject.reference")]
    # "#" is the container itself: a contained Provenance may target its container
    prov = {
        "resourceType": "Provenance",
        "id": "pv",
        "target": [{"reference": "#"}],
        "recorded": "2020-01-01T00:00:00Z",
        "agent": [{"who": {"display": "x"}}],
    }
    assert errors(observation(contained=[prov])) == []
    wrong_container = {
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "#"},
    }
    assert errors(observation(contained=[wrong_container])) == [
        ("reference-target", "Observation.contained[0].subject.reference")
    ]
    dangling = observation(subject={"reference": "#nope"})
    assert errors(dangling) == [("ref-1", "Observation.subject")]
    # dom-3: a contained resource nothing refers to
    orphan = observation(contained=[med])
    assert errors(orphan) == [("dom-3", "Observation.contained[0]")]


def test_bundle_references_resolve_through_full_urls() -> None:
    uuid = "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"

    def bundle(target: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"fullUrl": uuid, "resource": target, "request": {"method": "POST", "url": target["resourceType"]}},
                {
                    "resource": observation(subject={"reference": uuid}),
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }

    assert errors(bundle(patient())) == []
    assert errors(bundle({"resourceType": "Practitioner"})) == [
        ("reference-target", "Bundle.entry[1].resource.subject.reference")
    ]
    # errors inside entries carry the entry's path
    inner = bundle(patient(gender="x"))
    assert errors(inner) == [("binding", "Bundle.entry[0].resource.gender")]
    # bdl-3: a transaction entry needs a request
    del inner["entry"][0]["request"]
    inner["entry"][0]["resource"]["gender"] = "male"
    assert errors(inner) == [("bdl-3", "Bundle")]


# -- invariants -------------------------------------------------------------------------------------


def test_resource_invariants() -> None:
    assert errors(observation(valueString="a", dataAbsentReason={"text": "x"})) == [("obs-6", "Observation")]
    loinc = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    obs7 = observation(code=loinc, valueString="a", component=[{"code": loinc, "valueString": "b"}])
    assert errors(obs7) == [("obs-7", "Observation")]
    assert errors(patient(contact=[{"gender": "male"}, {"name": {"family": "A"}}])) == [("pat-1", "Patient.contact[0]")]


def test_contained_resource_invariants() -> None:
    inner = {"resourceType": "Patient", "id": "p", "contained": [{"resourceType": "Patient", "id": "q"}]}
    assert ("dom-2", "Observation") in errors(observation(contained=[inner], subject={"reference": "#p"}))
    versioned = {"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"}}
    assert errors(observation(contained=[versioned], subject={"reference": "#p"})) == [("dom-4", "Observation")]
    labelled = {"resourceType": "Patient", "id": "p", "meta": {"security": [{"code": "R"}]}}
    assert errors(observation(contained=[labelled], subject={"reference": "#p"})) == [("dom-5", "Observation")]


def test_datatype_invariants_at_each_instance() -> None:
    assert errors(observation(effectivePeriod={"start": "2021-02-01", "end": "2021-01-01"})) == [
        ("per-1", "Observation.effectivePeriod")
    ]
    # the same instant in two zones; a date against a dateTime on the same day is not comparable
    same = {"start": "2021-01-01T10:00:00+02:00", "end": "2021-01-01T08:00:00Z"}
    assert errors(observation(effectivePeriod=same)) == []
    assert errors(observation(effectivePeriod={"start": "2021-01-01", "end": "2021-01-01T08:00:00Z"})) == []
    # per-1 uses hasValue(): a start present only as an extension is not compared
    ext_only = {"_start": {"extension": [{"url": "http://e.org/x", "valueString": "v"}]}, "end": "2000"}
    assert errors(observation(effectivePeriod=ext_only)) == []
    # qty-3 inside a backbone element, with the instance's path
    rr = [{"low": {"value": 1}}, {"low": {"value": 1, "code": "mg"}}]
    assert errors(observation(referenceRange=rr)) == [("qty-3", "Observation.referenceRange[1].low")]
    # obs-3 on the backbone element itself
    assert errors(observation(referenceRange=[{"appliesTo": [{"text": "x"}]}])) == [
        ("obs-3", "Observation.referenceRange[0]")
    ]


def test_simple_quantity_profile_applies_where_the_type_carries_it() -> None:
    from clinikfhir._structure import node

    ref_range = node("Observation.referenceRange")
    assert ref_range is not None
    assert ref_range.fields["low"].child == "SimpleQuantity"
    ucum = {"system": "http://unitsofmeasure.org", "code": "mg"}
    # Observation.referenceRange.low is Quantity(SimpleQuantity): no comparator (max 0, sqty-1)
    rr = [{"low": {"value": 1, **ucum}}, {"low": {"value": 1, "comparator": "<", **ucum}, "high": {"value": 2}}]
    assert errors(observation(referenceRange=rr)) == [
        ("cardinality", "Observation.referenceRange[1].low.comparator"),
        ("sqty-1", "Observation.referenceRange[1].low"),
    ]
    # only an extension on the forbidden comparator is still a comparator
    ext = {"extension": [{"url": "http://e.org/x", "valueString": "v"}]}
    assert errors(observation(referenceRange=[{"low": {"value": 1, "_comparator": ext}}])) == [
        ("cardinality", "Observation.referenceRange[0].low.comparator"),
        ("sqty-1", "Observation.referenceRange[0].low"),
    ]
    # a plain Quantity keeps its comparator; Range.low (SimpleQuantity) inside a choice does not
    assert errors(observation(valueQuantity={"value": 1, "comparator": "<", **ucum})) == []
    assert errors(observation(valueRange={"high": {"value": 1, "comparator": ">=", **ucum}})) == [
        ("cardinality", "Observation.valueRange.high.comparator"),
        ("sqty-1", "Observation.valueRange.high"),
    ]
    # a profiled choice type (Dosage.doseAndRate.dose[x]) inside a datatype inside a resource
    dose = {"doseAndRate": [{"doseQuantity": {"value": 5, "comparator": "<=", **ucum}}]}
    med = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "x"},
        "subject": {"reference": "Patient/p"},
        "dosageInstruction": [dose],
    }
    assert errors(med) == [
        ("cardinality", "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.comparator"),
        ("sqty-1", "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity"),
    ]
    # the base Quantity rules still hold on the profile (qty-3), and the comparator code is not echoed
    assert errors(observation(referenceRange=[{"low": {"value": 1, "code": "mg"}}])) == [
        ("qty-3", "Observation.referenceRange[0].low")
    ]


def test_money_quantity_profile_rules() -> None:
    # R4 core puts the MoneyQuantity profile on no element, so its node is exercised on the walker
    from clinikfhir._structure import node
    from clinikfhir.validation._validate import _Walker

    spec = node("MoneyQuantity")
    assert spec is not None
    assert spec.type == "Quantity"
    assert "mqty-1" in spec.invariants
    res: dict[str, Any] = {"resourceType": "Basic"}
    walker = _Walker()
    walker.node({"value": 3, "system": "urn:iso:std:iso:4217", "code": "USD"}, spec, "X.ok", res, res)
    walker.node({"value": 3}, spec, "X.no_code", res, res)
    walker.node({"value": 3, "system": "http://unitsofmeasure.org", "code": "mg"}, spec, "X.not_iso", res, res)
    assert [(i.key, i.path) for i in walker.issues] == [("mqty-1", "X.no_code"), ("mqty-1", "X.not_iso")]


def test_quantity_specializations_as_element_types() -> None:
    ucum = "http://unitsofmeasure.org"
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p"}}
    assert errors({**condition, "onsetAge": {"value": 10, "system": ucum, "code": "a"}}) == []
    assert errors({**condition, "onsetAge": {"value": 10, "system": "http://e.org/u", "code": "a"}}) == [
        ("age-1", "Condition.onsetAge")
    ]
    assert errors({**condition, "onsetAge": {"value": -1, "system": ucum, "code": "a"}}) == [
        ("age-1", "Condition.onsetAge")
    ]
    # an Age with a value and no code
    assert errors({**condition, "onsetAge": {"value": 10}}) == [("age-1", "Condition.onsetAge")]
    # drt-1: a coded Duration is UCUM (without a system only qty-3 fails: drt-1 is then empty, not false)
    timing = {"repeat": {"boundsDuration": {"value": 2, "system": "http://e.org/u", "code": "wk"}}}
    assert errors(observation(effectiveTiming=timing)) == [
        ("drt-1", "Observation.effectiveTiming.repeat.boundsDuration")
    ]
    timing = {"repeat": {"boundsDuration": {"value": 2, "code": "wk"}}}
    assert errors(observation(effectiveTiming=timing)) == [
        ("qty-3", "Observation.effectiveTiming.repeat.boundsDuration")
    ]
    # Count and Distance as extension values: their own rules (cnt-3 whole number, dis-1 UCUM)
    count = {"url": "http://e.org/c", "valueCount": {"value": 1.5, "system": ucum, "code": "1"}}
    distance = {"url": "http://e.org/d", "valueDistance": {"value": 3, "system": "http://e.org/u", "code": "km"}}
    assert errors(patient(extension=[count, distance])) == [
        ("cnt-3", "Patient.extension[0].valueCount"),
        ("dis-1", "Patient.extension[1].valueDistance"),
    ]


def test_element_invariants() -> None:
    assert errors(patient(name=[{}])) == [("ele-1", "Patient.name[0]")]
    assert errors(patient(name=[{"id": "only-an-id"}])) == [("ele-1", "Patient.name[0]")]
    both = {"url": "http://e.org/a", "valueString": "x", "extension": [{"url": "http://e.org/b", "valueString": "y"}]}
    assert errors(patient(extension=[both])) == [("ext-1", "Patient.extension[0]")]
    neither = {"url": "http://e.org/a"}
    assert errors(patient(name=[{"family": "A", "extension": [neither]}])) == [
        ("ext-1", "Patient.name[0].extension[0]")
    ]


def test_narrative_checks() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml">ok</div>'
    assert errors(patient(text={"status": "generated", "div": div})) == []
    script = '<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>'
    assert errors(patient(text={"status": "generated", "div": script})) == [("txt-1", "Patient.text.div")]
    no_ns = "<div>ok</div>"
    assert errors(patient(text={"status": "generated", "div": no_ns})) == [("txt-1", "Patient.text.div")]


# -- severity policy, outcome, inputs ---------------------------------------------------------------


def test_severity_policy() -> None:
    data = patient(gender="x")  # an error, and dom-6 (no narrative) as a warning
    assert [(i.severity, i.key) for i in validate(data)] == [("error", "binding"), ("warning", "dom-6")]
    assert [i.key for i in validate(data, level="error")] == ["binding"]
    assert [i.key for i in validate(data, level="information")] == ["binding", "dom-6"]
    assert [i.key for i in validate(data, ignore={"dom-6"})] == ["binding"]
    assert has_errors(validate(data))
    assert not has_errors(validate(patient()))  # warnings never block
    with pytest.raises(ValueError, match="level must be one of"):
        validate(data, level="errors")  # type: ignore[arg-type]


def test_operation_outcome_and_messages_never_echo_values() -> None:
    data = patient(
        gender=MARKER, birthDate=MARKER, id=MARKER * 5, managingOrganization={"reference": f"Patient/{MARKER}"}
    )
    issues = validate(data)
    assert len([i for i in issues if i.is_error]) == 4
    outcome = to_operation_outcome(issues)
    assert outcome["resourceType"] == "OperationOutcome"
    assert {i["expression"][0] for i in outcome["issue"]} >= {"Patient.gender", "Patient.birthDate", "Patient.id"}
    assert MARKER not in repr(outcome)
    assert MARKER not in repr(issues)
    assert to_operation_outcome([])["issue"][0]["severity"] == "information"


def test_models_and_dicts_get_the_same_verdict() -> None:
    from clinikfhir.models import Patient, parse

    data = load("Patient-example.json")
    assert validate(Patient.model_validate(data)) == validate(data)
    # the R4B model accepts a gender it should not; validate does not
    bad = Patient.model_validate({"resourceType": "Patient", "gender": "foo"})
    assert [(i.key, i.path) for i in validate(bad) if i.is_error] == [("binding", "Patient.gender")]
    generic = parse(load("MedicinalProduct-example.json"))
    assert errors(generic) == []


def test_validate_does_not_modify_its_input() -> None:
    import copy

    data = load("Bundle-bundle-transaction.json")
    before = copy.deepcopy(data)
    validate(data)
    assert data == before


def test_issue_is_a_frozen_value() -> None:
    issue = Issue("error", "invalid", "Patient.gender", "code is not in the value set", "binding")
    with pytest.raises(AttributeError):
        issue.key = "x"  # type: ignore[misc]
    assert str(issue) == "error: Patient.gender: code is not in the value set [binding]"


def test_skipped_value_sets_are_exactly_the_documented_ones() -> None:
    from clinikfhir._generated.validation_schema import SKIPPED_VALUE_SETS, VALUE_SETS

    assert set(SKIPPED_VALUE_SETS) == {
        "http://hl7.org/fhir/ValueSet/mimetypes",
        "http://hl7.org/fhir/ValueSet/ucum-units",
        "http://loinc.org/vs/LL379-9",
    }
    assert all(systems for url, systems in VALUE_SETS.items() if url not in SKIPPED_VALUE_SETS)
    assert len(VALUE_SETS) == 224


def test_resource_type_key_only_at_a_resource_root() -> None:
    assert errors(patient(name=[{"family": "A", "resourceType": "HumanName"}])) == [
        ("unknown-element", "Patient.name[0].resourceType")
    ]


def test_extension_without_url() -> None:
    assert sorted(errors(patient(extension=[{"valueString": "a"}]))) == [("cardinality", "Patient.extension[0].url")]
    assert sorted(errors(patient(extension=[{"url": "http://e.org/a"}]))) == [("ext-1", "Patient.extension[0]")]


def test_base64_in_linear_time_and_with_the_full_alphabet() -> None:
    # "/" is base64 (the R4 regex forgets it); a large attachment must not make the check backtrack
    assert errors(patient(photo=[{"contentType": "image/png", "data": "ab/+" * 4}])) == []
    big = "QUJD" * 500_000 + "QUJ!"
    assert errors(patient(photo=[{"contentType": "image/png", "data": big}])) == [("format", "Patient.photo[0].data")]
    assert errors(patient(photo=[{"contentType": "image/png", "data": "QUJ"}])) == [("format", "Patient.photo[0].data")]
