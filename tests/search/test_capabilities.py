"""The capability check on hand-written CapabilityStatements: params, modifiers, chains, _has,
_sort keys and includes are each checked against what the statement declares."""

from __future__ import annotations

from typing import Any

import pytest

from clinikfhir.search import ObservationParams, ObservationQuery, PatientQuery, UnsupportedSearchError


def statement(**patient: Any) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "mode": "server",
                "searchParam": [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}],
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {"name": "name", "type": "string"},
                            {"name": "organization", "type": "reference"},
                        ],
                        **patient,
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [
                            {"name": "code", "type": "token"},
                            {"name": "patient", "type": "reference"},
                            {"name": "subject", "type": "reference"},
                        ],
                    },
                    {"type": "Organization", "interaction": [{"code": "read"}]},
                ],
            }
        ],
    }


def test_supported_query_has_no_problems() -> None:
    q = PatientQuery().name.contains("x").id_("1").last_updated_.gt("2024").sort("-name").page_size(5).summary("count")
    assert q.check(statement()) == []


def test_each_unsupported_part_is_named() -> None:
    q = (
        PatientQuery()
        .gender("male")
        .name.missing()
        .raw("name:text", "x")
        .sort("birthdate")
        .include("organization")
        .revinclude("Provenance:target")
    )
    assert q.check(statement()) == [
        "gender: Patient does not support the parameter gender",
        "name:text: the modifier :text is not defined for string parameters",
        "_sort key birthdate: Patient does not support the parameter birthdate",
        "_include=Patient:organization: not in the server's searchInclude",
        "_revinclude=Provenance:target: not in the server's searchRevInclude",
    ]


def test_includes_listed_or_wildcard_are_supported() -> None:
    q = PatientQuery().include("organization").revinclude("Observation:patient")
    assert q.check(statement(searchInclude=["Patient:organization"], searchRevInclude=["*"])) == []


def test_chains_and_has_are_checked_link_by_link() -> None:
    assert ObservationQuery().patient.Patient.name("x").check(statement()) == []
    assert ObservationQuery().patient.Patient.organization.Organization.name("x").check(statement()) == [
        "patient.organization.name: Organization does not support the parameter name"
    ]
    assert PatientQuery().has(ObservationParams, "patient").code("x").check(statement()) == []
    assert PatientQuery().has(ObservationParams, "performer").code("x").check(statement()) == [
        "_has:Observation:performer:code: Observation does not support the parameter performer"
    ]


def test_unsearchable_type_and_bad_statement() -> None:
    from clinikfhir.search import OrganizationQuery

    assert OrganizationQuery().name("x").check(statement()) == ["the server does not support searching Organization"]
    with pytest.raises(UnsupportedSearchError, match="Organization"):
        OrganizationQuery().ensure_supported(statement())
    with pytest.raises(ValueError, match="CapabilityStatement"):
        PatientQuery().check({"resourceType": "Patient"})


MODIFIER = "urn:clinikfhir:extension:search-modifier"
LISTED = "urn:clinikfhir:extension:search-modifiers-listed"


def listing(modifiers: dict[str, list[str]], *, flag: bool) -> dict[str, Any]:
    """The statement, with modifier extensions on Patient's parameters (and the rest-level flag)."""
    caps = statement()
    for sp in caps["rest"][0]["resource"][0]["searchParam"]:
        sp["extension"] = [{"url": MODIFIER, "valueCode": m} for m in modifiers.get(sp["name"], [])]
    if flag:
        caps["rest"][0]["extension"] = [{"url": LISTED, "valueBoolean": True}]
    return caps


def test_listed_modifiers_are_exactly_what_is_accepted() -> None:
    caps = listing({"name": ["exact"], "organization": ["type"]}, flag=True)
    assert PatientQuery().name.exact("x").organization.Organization.name("y").check(caps) == [
        "organization.name: Organization does not support the parameter name"
    ]
    assert PatientQuery().name.contains("x").name.missing().raw("organization:Group", "1").check(caps) == [
        "name:contains: the server does not support the modifier :contains on Patient.name",
        "name:missing: the server does not support the modifier :missing on Patient.name",
        "organization:Group: Patient.organization cannot point at a Group",
    ]
    no_type = listing({"organization": ["missing"]}, flag=True)
    unsupported = "the server does not support the modifier :Organization on Patient.organization"
    q = PatientQuery().raw("organization:Organization.name", "y").raw("organization:Organization", "1")
    assert q.check(no_type) == [
        f"organization:Organization.name: {unsupported}",
        f"organization:Organization: {unsupported}",
    ]
    # with the flag, a parameter listing nothing accepts no modifier; without it, the R4 defaults apply
    assert PatientQuery().name.missing().check(listing({}, flag=True)) == [
        "name:missing: the server does not support the modifier :missing on Patient.name"
    ]
    assert PatientQuery().name.missing().check(listing({}, flag=False)) == []


def test_include_values_are_checked_against_the_definitions_and_the_lists() -> None:
    caps = statement(searchInclude=["*", "Patient:organization"], searchRevInclude=["*", "Observation:subject"])
    assert PatientQuery().include("organization").revinclude("Observation:subject").check(caps) == []
    assert PatientQuery().raw("_include", "*").raw("_revinclude", "*").check(caps) == []
    # "*" is the value *, not "anything", once the list names values
    assert PatientQuery().include("general-practitioner").revinclude("Observation:patient").check(caps) == [
        "_include=Patient:general-practitioner: not in the server's searchInclude",
        "_revinclude=Observation:patient: not in the server's searchRevInclude",
    ]
    assert PatientQuery().raw("_include", "Patient:gender").raw("_include", "Observation:subject").check(caps) == [
        "_include: expected Type:param[:Target] naming a reference search parameter",
        "_include: Observation:subject does not start from Patient (use :iterate)",
    ]
    assert PatientQuery().raw("_include", "Patient:organization:Patient").check(caps) == [
        "_include: Patient.organization cannot point at a Patient"
    ]
    assert PatientQuery().raw("_revinclude", "Observation:subject:Group").check(caps) == [
        "_revinclude: Observation:subject:Group does not point at Patient (use :iterate)"
    ]
    assert PatientQuery().raw("_include:bogus", "Patient:organization").check(caps) == [
        "_include:bogus: unknown modifier on _include"
    ]


def test_iterate_includes_are_checked_on_their_own_source_type() -> None:
    caps = statement(searchInclude=["Patient:organization"])
    caps["rest"][0]["resource"][1]["searchInclude"] = ["Observation:subject"]
    q = ObservationQuery().include("subject", "Patient").raw("_include:iterate", "Patient:organization")
    assert q.check(caps) == []
    assert ObservationQuery().raw("_include:iterate", "Patient:general-practitioner").check(caps) == [
        "_include:iterate=Patient:general-practitioner: not in the server's searchInclude"
    ]


def test_a_statement_model_is_indexed_once_and_released_with_it() -> None:
    import gc

    from clinikfhir.models import parse
    from clinikfhir.search import _capabilities

    before = len(_capabilities._INDEXES)
    models = [parse(statement()) for _ in range(20)]
    q = PatientQuery().gender("male").name("x")
    for model in models:
        assert q.check(model) == q.check(statement()) == ["gender: Patient does not support the parameter gender"]
        assert q.check(model) == ["gender: Patient does not support the parameter gender"]
    assert len(_capabilities._INDEXES) == before + 20
    # another statement object is read on its own, not through an earlier one's index
    both = [{"name": "gender", "type": "token"}, {"name": "name", "type": "string"}]
    assert q.check(parse(statement(searchParam=both))) == []
    del models, model
    gc.collect()
    assert len(_capabilities._INDEXES) == before


def test_a_model_that_is_not_a_statement_is_refused() -> None:
    from clinikfhir.models import parse

    with pytest.raises(ValueError, match="CapabilityStatement"):
        PatientQuery().check(parse({"resourceType": "Patient", "id": "p"}))
    with pytest.raises(ValueError, match="CapabilityStatement"):
        PatientQuery().check([])  # type: ignore[arg-type]
