"""An unknown resourceType is the caller's text: no issue path or message ever echoes it, at the top
level (a fixed ``Resource.resourceType`` path) or embedded (the element path + ``.resourceType``)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir.validation import Issue, validate

NOT_A_TYPE = "resourceType is not a FHIR R4 resource type"

hostile = st.text(min_size=1, max_size=30).filter(lambda s: s not in RESOURCE_TYPES)
marked = st.text(max_size=20).map(lambda s: "Zq9HOSTILE" + s)


@given(hostile)
def test_top_level_unknown_type_has_a_fixed_path_and_message(rtype: str) -> None:
    issues = validate({"resourceType": rtype, "id": "x"}, level="information")
    assert issues == [Issue("error", "structure", "Resource.resourceType", NOT_A_TYPE, "structure")]


@given(marked)
def test_no_issue_echoes_a_hostile_type_anywhere(rtype: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"resourceType": rtype, "name": [{rtype: 1}]}, "Resource.resourceType"),
        (
            {"resourceType": "Patient", "contained": [{"resourceType": rtype, "id": "c"}]},
            "Patient.contained[0].resourceType",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": rtype}}]},
            "Bundle.entry[0].resource.resourceType",
        ),
    ]
    for data, where in cases:
        issues = validate(data, level="information")
        for issue in issues:
            assert rtype not in issue.path
            assert rtype not in issue.message
        assert Issue("error", "structure", where, NOT_A_TYPE, "structure") in issues
