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
    q = PatientQuery().name.contains("x").id_("1").last_updated_.gt("2024").sort("-name").count(5).summary("count")
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
