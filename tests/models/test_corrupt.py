"""Corrupted server responses: a typed error or a validated fallback; never a raw exception, never
a silently wrong object."""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest
from pydantic import ValidationError

from clinikfhir.models import (
    R4_ONLY_TYPES,
    ModelFallbackWarning,
    ModelParseError,
    decode,
    encode,
    parse,
    resource_class,
)

OBS = '{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":72.5}}'


@pytest.mark.parametrize(
    "raw",
    [
        OBS[:-7],  # truncated
        OBS[: len(OBS) // 2],
        "",
        "not json",
        b"\xff\xfe{}",
        '{"resourceType":"Observation",}',
    ],
)
def test_truncated_or_broken_json_is_a_typed_error(raw: str | bytes) -> None:
    with pytest.raises(ModelParseError) as info:
        parse(raw)
    assert "72.5" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "cannot parse"),
        ("[1, 2]", "JSON object"),
        (5, "cannot parse"),
        ({"id": "x"}, "no resourceType"),
        ({"resourceType": "NotAThing"}, "not a FHIR R4 resource type"),
        ({"resourceType": "Citation"}, "not a FHIR R4 resource type"),  # R4B-only, not R4
        ({"resourceType": 7}, "no resourceType"),
    ],
)
def test_not_a_resource(data: Any, message: str) -> None:
    with pytest.raises(ModelParseError, match=message):
        parse(data)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"resourceType": "Observation", "status": 5, "code": {}}, "Observation.status"),
        ({"resourceType": "Observation", "status": "final", "code": []}, "Observation.code"),
        ({"resourceType": "Patient", "name": {"family": "Smith"}}, "Patient.name"),
        ({"resourceType": "Patient", "name": [None]}, "Patient.name"),
        ({"resourceType": "Patient", "birthDate": "12/04/1980"}, "Patient.birthDate"),
        ({"resourceType": "Patient", "meta": {"lastUpdated": "yesterday"}}, "Patient.meta.lastUpdated"),
        (
            {"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": {"value": "NaN"}},
            "Observation.valueQuantity.value",
        ),
        (
            {"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": {"value": [1]}},
            "Observation.valueQuantity.value",
        ),
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Nope"}}]}, "Bundle"),
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{}, {"resource": []}]}, "Bundle.entry[1].resource"),
        (
            {"resourceType": "Observation", "resourceType2": 1, "status": "final", "code": {}, "subject": "Patient/1"},
            "Observation.subject",
        ),
    ],
)
def test_wrong_types_are_typed_errors_with_paths(data: dict[str, Any], path: str) -> None:
    raw = encode(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelFallbackWarning)
        with pytest.raises(ModelParseError) as info:
            parse(raw)
    assert info.value.problems, "problems must be listed"
    assert any(p == path or p.startswith(path + ".") or p.startswith(path + "[") for p, _ in info.value.problems), (
        info.value.problems
    )
    for _, message in info.value.problems:
        assert "Smith" not in message
        assert "yesterday" not in message


def test_coercible_values_fall_back_to_validation_with_a_warning() -> None:
    data = {"resourceType": "Patient", "active": "true", "multipleBirthInteger": 2.0}
    with pytest.warns(ModelFallbackWarning) as caught:
        model = parse(data)
    assert caught[0].message.path in ("Patient.active", "Patient.multipleBirthInteger")  # type: ignore[union-attr]
    assert model == resource_class("Patient").model_validate(data)
    assert model.active is True  # type: ignore[attr-defined]


def test_wrong_resource_type_in_a_nested_slot() -> None:
    with pytest.raises(ModelParseError):
        parse({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Coding"}}]})


def test_deep_nesting_is_a_typed_error() -> None:
    data: dict[str, Any] = {"url": "http://x"}
    node = data
    for _ in range(5000):
        child: dict[str, Any] = {"url": "http://x"}
        node["extension"] = [child]
        node = child
    with pytest.raises(ModelParseError):
        parse({"resourceType": "Patient", "extension": [data]})


_WRONG: list[Any] = [7, "text", True, {"a": 1}, [1, 2], 1.5, [], {}]


def _mutate(value: Any, rnd: random.Random) -> tuple[Any, str]:
    """Replace one leaf or container (not resourceType) by a value of another JSON type."""
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in node:
                if key != "resourceType":
                    paths.append((node, key))
                    walk(node[key])
        elif isinstance(node, list):
            for index, item in enumerate(node):
                paths.append((node, index))
                walk(item)

    walk(value)
    parent, key = rnd.choice(paths)
    old = parent[key]
    choices = [w for w in _WRONG if type(w) is not type(old)]
    parent[key] = rnd.choice(choices)
    return value, str(key)


@pytest.mark.slow
def test_fuzzed_corpus_never_crashes_or_lies(examples: list[tuple[str, bytes]]) -> None:
    """Break one value of a valid example (another JSON type): the read either fails with
    ModelParseError or gives exactly what full validation gives for the broken data."""
    rnd = random.Random(20261126)
    valid = [(name, raw) for name, raw in examples if _validates(decode(raw))]
    outcomes = {"error": 0, "equal": 0}
    for _name, raw in rnd.sample(valid, 150):
        for _ in range(4):
            data, _key = _mutate(decode(raw), rnd)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ModelFallbackWarning)
                try:
                    model = parse(encode(data))
                except ModelParseError:
                    outcomes["error"] += 1
                    continue
            assert model == resource_class(data["resourceType"]).model_validate(data)
            outcomes["equal"] += 1
    assert outcomes["error"] > 100
    assert outcomes["equal"] > 0


def _validates(data: dict[str, Any]) -> bool:
    """Whether fhir.resources validates the data (R4-only types have no model: excluded)."""
    try:
        resource_class(data["resourceType"]).model_validate(data)
    except (ValidationError, KeyError):
        return False
    return data["resourceType"] not in R4_ONLY_TYPES


def test_r4_only_resource_with_broken_common_elements_is_a_typed_error() -> None:
    with pytest.raises(ModelParseError, match="MedicinalProduct"):
        parse({"resourceType": "MedicinalProduct", "id": 5})
    with pytest.raises(ModelParseError):
        parse(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "MedicinalProduct", "meta": []}}],
            }
        )
