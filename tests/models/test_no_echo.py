"""``ModelParseError`` (message and ``problems``) and ``ModelFallbackWarning`` never echo caller
text: not a value, not an unknown resourceType, not an unknown element's name; problems name the
element by its path (structure), an unknown element by the path of the element holding it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir.models import ModelParseError, encode, parse

# hostile text: a marker no message could contain by chance, then anything
hostile = st.text(max_size=20).map(lambda tail: "Zq9SECRET" + tail)

PLACES: list[Callable[[str], dict[str, Any]]] = [
    lambda h: {"resourceType": h},
    lambda h: {"resourceType": "Patient", h: 1},
    lambda h: {"resourceType": "Patient", "name": [{"family": "x", h: "y"}]},
    lambda h: {"resourceType": "Patient", "gender": h},
    lambda h: {"resourceType": "Patient", "id": h},
    lambda h: {"resourceType": "Patient", "birthDate": h},
    lambda h: {"resourceType": "Patient", "active": h},
    lambda h: {"resourceType": "Patient", "multipleBirthInteger": h},
    lambda h: {"resourceType": "Patient", "name": [h]},
    lambda h: {"resourceType": "Patient", "name": {"family": h}},
    lambda h: {"resourceType": "Patient", "meta": {"lastUpdated": h}},
    lambda h: {"resourceType": "Patient", "photo": [{"url": h}]},
    lambda h: {"resourceType": "Patient", "extension": [{"url": "http://x", "valueDecimal": h}]},
    lambda h: {"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": {"value": h}},
    lambda h: {"resourceType": "Patient", "contained": [{"resourceType": h}]},
    lambda h: {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": h}}]},
    lambda h: {"resourceType": "Bundle", "type": h},
    lambda h: {"resourceType": "MedicinalProduct", "id": [h]},
    lambda h: {"resourceType": "MedicinalProduct", h: [1]},
    lambda h: {"resourceType": "MedicinalProduct", "meta": {"versionId": [h]}},
    lambda h: {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "MedicinalProduct", "id": [h]}}],
    },
    lambda h: {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "MedicinalProduct", "meta": {"tag": [{"userSelected": h}]}}}],
    },
    lambda h: {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", h: {}}}],
    },
]


def _text_of(err: ModelParseError) -> str:
    return str(err) + repr(err.args) + repr(err.problems)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("place", range(len(PLACES)))
@settings(max_examples=15, deadline=None)
@given(secret=hostile)
def test_no_caller_text_in_errors_or_warnings(place: int, strict: bool, secret: str) -> None:
    data = PLACES[place](secret)
    error: ModelParseError | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parse(encode(data), strict=strict)
        except ModelParseError as err:
            error = err
    if error is not None:
        assert "Zq9SECRET" not in _text_of(error)
        for path, message in error.problems:
            assert "Zq9SECRET" not in path
            assert "Zq9SECRET" not in message
    for w in caught:
        assert "Zq9SECRET" not in str(w.message)
        assert "Zq9SECRET" not in repr(getattr(w.message, "path", ""))


def test_unknown_type_and_element_messages() -> None:
    with pytest.raises(ModelParseError) as info:
        parse({"resourceType": "SECRETVType"})
    assert str(info.value) == "resourceType is not a FHIR R4 resource type"
    assert info.value.problems == [("resourceType", "resourceType is not a FHIR R4 resource type")]
    with pytest.raises(ModelParseError) as info:
        parse({"resourceType": "Patient", "name": [{"SECRETx": 1}]}, strict=True)
    assert info.value.problems == [("Patient.name[0]", "unknown element")]
    with pytest.raises(ModelParseError) as info:
        parse(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "SECRETZ"}}]},
            strict=True,
        )
    assert (
        "Bundle.entry[0].resource.resourceType",
        "resourceType is not a FHIR R4 resource type",
    ) in info.value.problems
