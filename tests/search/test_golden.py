"""Golden query strings: every parameter kind and modifier against the FHIR R4 search page's own
examples (http://hl7.org/fhir/R4/search.html), hand-checked, plus the seed's canonical example."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from clinikfhir.errors import InvalidArgumentError, TenantGuardError
from clinikfhir.search import (
    DiagnosticReportQuery,
    GroupQuery,
    LocationQuery,
    MedicationRequestQuery,
    ObservationParams,
    ObservationQuery,
    PatientQuery,
    Prefixed,
    QuantityValue,
    RiskAssessmentQuery,
    ValueSetQuery,
)


def test_seed_example_renders_exactly() -> None:
    q = ObservationQuery().code("8867-4").date.ge("2024-01-01").sort("-date").page_size(50)
    assert q.query_string() == "code=8867-4&date=ge2024-01-01&_sort=-date&_count=50"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # number (RiskAssessment.probability) with every prefix
        (RiskAssessmentQuery().probability(Decimal("0.8")), "probability=0.8"),
        (RiskAssessmentQuery().probability.gt(Decimal("0.8")), "probability=gt0.8"),
        (RiskAssessmentQuery().probability.eq(100), "probability=eq100"),
        (RiskAssessmentQuery().probability.ne(100), "probability=ne100"),
        (RiskAssessmentQuery().probability.lt(100), "probability=lt100"),
        (RiskAssessmentQuery().probability.le(100), "probability=le100"),
        (RiskAssessmentQuery().probability.ap(100), "probability=ap100"),
        (RiskAssessmentQuery().probability(Decimal("1.50")), "probability=1.50"),
        (RiskAssessmentQuery().probability(Decimal("1e2")), "probability=1E%2B2"),
        # date
        (PatientQuery().birthdate("2013-01-14"), "birthdate=2013-01-14"),
        (ObservationQuery().date.ge("2013-03-14"), "date=ge2013-03-14"),
        (ObservationQuery().date.sa("2013-03-14"), "date=sa2013-03-14"),
        (ObservationQuery().date.eb("2013-03-14"), "date=eb2013-03-14"),
        (PatientQuery().last_updated_.gt("2010-10-01"), "_lastUpdated=gt2010-10-01"),
        (ObservationQuery().date(dt.date(2024, 2, 29)), "date=2024-02-29"),
        (ObservationQuery().date.lt(dt.datetime(2024, 1, 1, 10, 30, tzinfo=dt.UTC)), "date=lt2024-01-01T10:30:00Z"),
        (
            ObservationQuery().date.le(
                dt.datetime(2024, 1, 1, 10, 30, 0, 500, tzinfo=dt.timezone(dt.timedelta(hours=1)))
            ),
            "date=le2024-01-01T10:30:00.000500%2B01:00",
        ),
        (ObservationQuery().date("2024", "2025-03"), "date=2024,2025-03"),
        (ObservationQuery().date(Prefixed("lt", "2020"), Prefixed("gt", "2024")), "date=lt2020,gt2024"),
        (
            RiskAssessmentQuery().probability(Prefixed("lt", 0.1), Prefixed("ge", Decimal("0.90"))),
            "probability=lt0.1,ge0.90",
        ),
        # string
        (PatientQuery().given("eve"), "given=eve"),
        (PatientQuery().given.contains("eve"), "given:contains=eve"),
        (PatientQuery().given.exact("Eve"), "given:exact=Eve"),
        (PatientQuery().address_city("Boston"), "address-city=Boston"),
        # token
        (PatientQuery().identifier(("http://acme.org/patient", "2345")), "identifier=http://acme.org/patient|2345"),
        (PatientQuery().gender("male"), "gender=male"),
        (PatientQuery().gender.not_("male"), "gender:not=male"),
        (ObservationQuery().code((None, "123")), "code=|123"),
        (ObservationQuery().code(("http://loinc.org", None)), "code=http://loinc.org|"),
        (ObservationQuery().code.text("headache"), "code:text=headache"),
        (
            ObservationQuery().code.above(("http://snomed.info/sct", "3738000")),
            "code:above=http://snomed.info/sct|3738000",
        ),
        (
            ObservationQuery().code.below(("http://snomed.info/sct", "235862008")),
            "code:below=http://snomed.info/sct|235862008",
        ),
        (
            ObservationQuery().code.in_("http://acme.org/fhir/ValueSet/cardiac"),
            "code:in=http://acme.org/fhir/ValueSet/cardiac",
        ),
        (
            ObservationQuery().code.not_in("http://acme.org/fhir/ValueSet/x"),
            "code:not-in=http://acme.org/fhir/ValueSet/x",
        ),
        (
            PatientQuery().identifier.of_type("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "446053"),
            "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053",
        ),
        (PatientQuery().id_("23"), "_id=23"),
        # uri
        (ValueSetQuery().url("http://acme.org/fhir/ValueSet/123"), "url=http://acme.org/fhir/ValueSet/123"),
        (ValueSetQuery().url.below("http://acme.org/fhir/"), "url:below=http://acme.org/fhir/"),
        (
            ValueSetQuery().url.above("http://acme.org/fhir/ValueSet/123/_history/5"),
            "url:above=http://acme.org/fhir/ValueSet/123/_history/5",
        ),
        # quantity
        (
            ObservationQuery().value_quantity.ap(5.4, "http://unitsofmeasure.org", "mg"),
            "value-quantity=ap5.4|http://unitsofmeasure.org|mg",
        ),
        (ObservationQuery().value_quantity(5.4, QuantityValue(5.4, None, "mg")), "value-quantity=5.4,5.4||mg"),
        (
            ObservationQuery().value_quantity.le(Decimal("5.40"), "http://unitsofmeasure.org", "mg"),
            "value-quantity=le5.40|http://unitsofmeasure.org|mg",
        ),
        # reference
        (ObservationQuery().subject("Patient/23"), "subject=Patient/23"),
        (ObservationQuery().subject("23"), "subject=23"),
        (ObservationQuery().subject.typed("Patient", "23"), "subject:Patient=23"),
        (
            ObservationQuery().subject.identifier(("http://acme.org/fhir/identifier/mrn", "123456")),
            "subject:identifier=http://acme.org/fhir/identifier/mrn|123456",
        ),
        (DiagnosticReportQuery().subject.Patient.name("peter"), "subject:Patient.name=peter"),
        (ObservationQuery().patient.Patient.name("peter"), "patient.name=peter"),
        (
            ObservationQuery().patient.Patient.general_practitioner.Practitioner.name("Joe"),
            "patient.general-practitioner:Practitioner.name=Joe",
        ),
        (
            DiagnosticReportQuery().result.Observation.code_value_quantity(
                (("http://loinc.org", "2823-3"), QuantityValue(5.4, "http://unitsofmeasure.org", "mmol/L", "gt"))
            ),
            "result.code-value-quantity=http://loinc.org|2823-3$gt5.4|http://unitsofmeasure.org|mmol/L",
        ),
        (PatientQuery().has(ObservationParams, "patient").code("1234-5"), "_has:Observation:patient:code=1234-5"),
        # composite
        (GroupQuery().characteristic_value(("gender", "mixed")), "characteristic-value=gender$mixed"),
        (
            ObservationQuery().component_code_value_quantity(
                (("http://loinc.org", "8480-6"), QuantityValue(60, prefix="lt"))
            ),
            "component-code-value-quantity=http://loinc.org|8480-6$lt60",
        ),
        (
            ObservationQuery().code_value_date(("8867-4", Prefixed("ge", "2024-01-01"))),
            "code-value-date=8867-4$ge2024-01-01",
        ),
        # special: verbatim
        (LocationQuery().near("42.256500|-83.694710|11.20|km"), "near=42.256500|-83.694710|11.20|km"),
        # missing on every kind
        (PatientQuery().given.missing(True), "given:missing=true"),
        (ObservationQuery().date.missing(False), "date:missing=false"),
        (ObservationQuery().subject.missing(), "subject:missing=true"),
        # OR and AND
        (PatientQuery().given("a", "b").given("c"), "given=a,b&given=c"),
        # result parameters
        (ObservationQuery().sort("status", "-date", "category"), "_sort=status,-date,category"),
        (ObservationQuery().sort("-date").sort("code"), "_sort=code"),
        (ObservationQuery().page_size(10).page_size(20), "_count=20"),
        (MedicationRequestQuery().include("patient"), "_include=MedicationRequest:patient"),
        (
            MedicationRequestQuery().include("requester", "Practitioner", iterate=True),
            "_include:iterate=MedicationRequest:requester:Practitioner",
        ),
        (PatientQuery().revinclude("Provenance:target"), "_revinclude=Provenance:target"),
        (PatientQuery().elements("identifier", "active", "link"), "_elements=identifier,active,link"),
        (PatientQuery().summary("count"), "_summary=count"),
        (PatientQuery().total("accurate"), "_total=accurate"),
        (PatientQuery().contained("true", "contained"), "_contained=true&_containedType=contained"),
        (PatientQuery().in_list("42"), "_list=42"),
        (PatientQuery().raw("name:phonetic", "Smyth"), "name:phonetic=Smyth"),
    ],
)
def test_golden(query: ObservationQuery | PatientQuery, expected: str) -> None:
    assert query.query_string() == expected


def test_values_are_escaped_per_the_spec() -> None:
    q = PatientQuery().name("Smith, John").identifier(("http://x|y", "a$b\\c"))
    assert q.params() == (("name", "Smith\\, John"), ("identifier", "http://x\\|y|a\\$b\\\\c"))
    assert q.query_string() == "name=Smith%5C,%20John&identifier=http://x%5C|y|a%5C$b%5C%5Cc"


def test_plus_and_ampersand_are_percent_encoded() -> None:
    q = PatientQuery().name("a&b=c+d#e")
    assert q.query_string() == "name=a%26b%3Dc%2Bd%23e"


def test_model_instance_becomes_type_slash_id() -> None:
    from clinikfhir.models import Patient

    assert ObservationQuery().subject(Patient(id="p1")).query_string() == "subject=Patient/p1"
    with pytest.raises(InvalidArgumentError, match="needs a resource type and an id"):
        ObservationQuery().subject(Patient())


def test_queries_are_immutable_and_shareable() -> None:
    base = ObservationQuery().code("8867-4")
    a = base.date.ge("2024-01-01")
    b = base.status("final")
    assert base.query_string() == "code=8867-4"
    assert a.query_string() == "code=8867-4&date=ge2024-01-01"
    assert b.query_string() == "code=8867-4&status=final"
    assert a != b
    assert base == ObservationQuery().code("8867-4")


@pytest.mark.parametrize(
    "build",
    [
        lambda: PatientQuery().tag_(("https://clinikapi.com/tenant", "org_a")),
        lambda: PatientQuery().tag_("x", ("https://clinikapi.com/tenant", None)),
        lambda: PatientQuery().tag_.not_(("https://clinikapi.com/tenant", "org_a")),
        lambda: PatientQuery().raw("_tag", "https://clinikapi.com/tenant|org_a"),
        lambda: PatientQuery().raw("_tag:not", "https://clinikapi.com/tenant|"),
        lambda: ObservationQuery().subject.Patient.tag_(("https://clinikapi.com/tenant", "org_b")),
        lambda: PatientQuery().has(ObservationParams, "patient").tag_(("https://clinikapi.com/tenant/", "b")),
        lambda: PatientQuery(params={"_tag": "https://clinikapi.com/tenant|org_a"}),
        lambda: PatientQuery(params=[("_tag", "ok|1"), ("_tag", "https://clinikapi.com/tenant|org_a")]),
    ],
)
def test_tenant_tag_filter_is_refused_locally(build: object) -> None:
    with pytest.raises(TenantGuardError, match="tenant tag"):
        build()  # type: ignore[operator]


def test_other_tags_are_allowed() -> None:
    q = PatientQuery().tag_(("http://example.org/tags", "vip"))
    assert q.query_string() == "_tag=http://example.org/tags|vip"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ObservationQuery().date("2024-13-01"), "search parameter date: not a FHIR date"),
        (lambda: ObservationQuery().date("ge2024"), "not a FHIR date"),
        (lambda: RiskAssessmentQuery().probability(float("nan")), "finite"),
        (lambda: RiskAssessmentQuery().probability(True), "expected a number"),
        (lambda: PatientQuery().given(), "give at least one value"),
        (lambda: ObservationQuery().subject.typed("Practitioner", "1"), "cannot point at a Practitioner"),  # type: ignore[arg-type]
        (lambda: ObservationQuery().code_value_quantity(("a",)), "tuple of 2 parts"),
        (lambda: ObservationQuery().code(("a", "b", "c")), "(system, code) pair"),  # type: ignore[arg-type]
        (lambda: PatientQuery().has(ObservationParams, "code"), "no reference search parameter"),
        (lambda: PatientQuery().has(ObservationParams, "encounter"), "cannot point at a Patient"),
        (lambda: MedicationRequestQuery().include("patient", "Practitioner"), "cannot point at a Practitioner"),
        (lambda: PatientQuery().page_size(-1), "non-negative"),
        (lambda: ObservationQuery().date(Prefixed("gte", "2024")), "unknown prefix"),
        (lambda: PatientQuery().raw("a&b", "1"), "may not contain"),
    ],
)
def test_bad_input_gets_a_clear_local_error(build: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        build()  # type: ignore[operator]
    assert message in str(info.value)


def test_unbound_query_cannot_execute() -> None:
    with pytest.raises(InvalidArgumentError, match="not bound to a client"):
        ObservationQuery().page()  # type: ignore[misc]


def test_params_argument_adds_raw_pairs_in_order() -> None:
    q = PatientQuery(params={"name": ["a", "b"], "gender": "male", "_count": 5})
    assert q.query_string() == "name=a&name=b&gender=male&_count=5"
    assert PatientQuery(params=[("name", "a"), ("_count", 3)]).params() == (("name", "a"), ("_count", "3"))
    with pytest.raises(InvalidArgumentError, match="strings or ints"):
        PatientQuery(params={"active": True})  # type: ignore[dict-item]


def test_repr_names_parameters_but_never_values() -> None:
    q = PatientQuery().family("Smith").birthdate("1990-01-15")
    assert repr(q) == "<PatientQuery family, birthdate>"
    assert "Smith" not in repr(q)
    assert "1990" not in repr(q.family)


def test_a_naive_datetime_is_refused_with_a_clear_message() -> None:
    naive = dt.datetime(2024, 1, 1, 10, 30)
    attempts = [
        lambda: ObservationQuery().date(naive),
        lambda: ObservationQuery().date.ge(naive),
        lambda: ObservationQuery().date(Prefixed("lt", naive)),
        lambda: PatientQuery().last_updated_.gt(naive),
        lambda: PatientQuery().birthdate(dt.date(2024, 1, 1), naive),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidArgumentError, match="no time zone") as info:
            attempt()
        assert "aware datetime" in str(info.value)
        assert "date" in str(info.value)
    # aware datetimes and dates are fine
    assert ObservationQuery().date.ge(naive.replace(tzinfo=dt.UTC)).query_string() == "date=ge2024-01-01T10:30:00Z"
    assert ObservationQuery().date(naive.date()).query_string() == "date=2024-01-01"
