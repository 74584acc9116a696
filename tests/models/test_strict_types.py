"""R4 JSON types are exact: ``parse(strict=True)`` refuses ``"yes"``/``1``/``"true"`` for a boolean,
``"1"``/``1.0``/``true`` for an integer, a string for a decimal, a number for a string, with the
element path; the trusted read never returns a silently coerced value (an error, a reported
fallback, or the data kept exactly as received)."""

from __future__ import annotations

import random
import subprocess
import sys
import warnings
from decimal import Decimal
from typing import Any, cast

import pytest
from conftest import exact

from clinikfhir.models import ModelFallbackWarning, ModelParseError, decode, dump, encode, parse

OBS: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"resourceType": "Patient", "active": "yes"}, "Patient.active"),
        ({"resourceType": "Patient", "active": 1}, "Patient.active"),
        ({"resourceType": "Patient", "active": "true"}, "Patient.active"),
        ({"resourceType": "Patient", "multipleBirthInteger": "1"}, "Patient.multipleBirthInteger"),
        ({"resourceType": "Patient", "multipleBirthInteger": 1.0}, "Patient.multipleBirthInteger"),
        ({"resourceType": "Patient", "multipleBirthInteger": True}, "Patient.multipleBirthInteger"),
        ({"resourceType": "Patient", "name": [{"family": 1}]}, "Patient.name[0].family"),
        ({**OBS, "valueQuantity": {"value": "1.5"}}, "Observation.valueQuantity.value"),
        (
            {**OBS, "valueSampledData": {"origin": {"value": 1}, "period": 1, "dimensions": "3"}},
            "Observation.valueSampledData.dimensions",
        ),
        ({"resourceType": "Patient", "extension": [{"url": "http://x", "valueBoolean": "no"}]}, "Patient.extension[0]"),
        ({"resourceType": "Bundle", "type": "collection", "total": "2"}, "Bundle.total"),
        ({"resourceType": "MedicinalProduct", "domain": {"coding": {"code": "h"}}}, "MedicinalProduct.domain"),
        ({"resourceType": "MedicinalProduct", "id": ["m"]}, "MedicinalProduct.id"),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Patient", "active": 0}}],
            },
            "Bundle.entry[0].resource.active",
        ),
        # an R4-only type (no R4B model): the validation package's JSON checks
        (
            {"resourceType": "MedicinalProduct", "id": "m", "meta": {"tag": [{"userSelected": "true"}]}},
            "MedicinalProduct",
        ),
        ({"resourceType": "MedicinalProduct", "name": [{"productName": 5}]}, "MedicinalProduct.name[0].productName"),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "MedicinalProduct", "name": [{"productName": 5}]}}],
            },
            "Bundle.entry[0].resource",
        ),
    ],
)
def test_strict_refuses_wrong_json_types_with_the_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ModelParseError) as info:
        parse(encode(data), strict=True)
    paths = [p for p, _ in info.value.problems]
    assert any(p == path or p.startswith((path + ".", path + "[")) for p in paths), paths


def test_strict_accepts_exact_types() -> None:
    data = {"resourceType": "Patient", "active": True, "multipleBirthInteger": 2, "name": [{"family": "x"}]}
    assert exact(dump(parse(data, strict=True))) == data
    obs = {**OBS, "valueQuantity": {"value": 1.50}}
    assert (
        exact(dump(parse(encode(obs), strict=True)))["valueQuantity"]["value"]
        == exact(encode(obs))["valueQuantity"]["value"]
    )


def _leaves(node: Any, out: list[tuple[Any, Any]]) -> None:
    if isinstance(node, dict):
        obj = cast("dict[str, Any]", node)
        for key, value in obj.items():
            if key in ("resourceType", "div"):
                continue
            if isinstance(value, (dict, list)):
                _leaves(value, out)
            else:
                out.append((obj, key))
    elif isinstance(node, list):
        items = cast("list[Any]", node)
        for index, value in enumerate(items):
            if isinstance(value, (dict, list)):
                _leaves(value, out)
            else:
                out.append((items, index))


def _wrong(value: Any, rnd: random.Random) -> Any:
    """A value of another JSON type that a lax reader could coerce back to ``value``."""
    if isinstance(value, bool):
        return rnd.choice(["true" if value else "false", int(value), "yes" if value else "no"])
    if isinstance(value, (int, float, Decimal)):  # integer or decimal elements: only non-numbers
        return rnd.choice([str(value), value != 0])
    if isinstance(value, str):
        return rnd.choice([5, True, [value]])
    return 0


@pytest.mark.slow
def test_wrong_json_types_in_the_corpus(examples: list[tuple[str, bytes]]) -> None:
    """One primitive of a valid example replaced by a coercible value of another JSON type: strict
    always refuses; trusted refuses, warns (reported fallback), or keeps the data exactly as sent."""
    rnd = random.Random(1126)
    checked = 0
    for _name, raw in rnd.sample(examples, 200):
        data = decode(raw)
        leaves: list[tuple[Any, Any]] = []
        _leaves(data, leaves)
        if not leaves:
            continue
        parent, key = rnd.choice(leaves)
        parent[key] = _wrong(parent[key], rnd)
        text = encode(data)
        with pytest.raises(ModelParseError):
            parse(text, strict=True)
        checked += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = parse(text)
            except ModelParseError:
                continue
        if not any(issubclass(w.category, ModelFallbackWarning) for w in caught):
            assert exact(dump(model)) == exact(text), _name  # kept as sent, not coerced
    assert checked > 150


def test_trusted_r4_only_common_elements_never_coerce_silently() -> None:
    data = {"resourceType": "MedicinalProduct", "meta": {"tag": [{"code": "a", "userSelected": "true"}]}}
    with pytest.warns(ModelFallbackWarning) as caught:
        parse(data)
    assert caught[0].message.path == "MedicinalProduct.meta.tag[0].userSelected"  # type: ignore[union-attr]
    with pytest.raises(ModelParseError):
        parse(data, strict=True)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"resourceType": "Patient", "name": []}, "Patient.name"),
        ({"resourceType": "Patient", "name": [{"given": []}]}, "Patient.name[0].given"),
        (
            {"resourceType": "MedicinalProduct", "name": [{"productName": "x"}], "identifier": []},
            "MedicinalProduct.identifier",
        ),
    ],
)
def test_strict_refuses_empty_arrays_with_the_path(data: dict[str, Any], path: str) -> None:
    """R4 JSON has no empty arrays: the strict read refuses them (issue key ``structure``)."""
    with pytest.raises(ModelParseError) as info:
        parse(encode(data), strict=True)
    assert path in [p for p, _ in info.value.problems]


def test_strict_leaves_a_missing_required_element_to_validation() -> None:
    """Selected by the issue's code ``required`` (not its wording): an R4-only resource missing a
    required element is not a JSON type problem, so the strict read keeps it."""
    data = {"resourceType": "MedicinalProduct", "id": "m1"}  # MedicinalProduct.name is 1..*
    assert exact(dump(parse(encode(data), strict=True))) == data


def test_a_strict_read_needs_no_validator() -> None:
    # the JSON checks of a strict read are the structural walk below the models (the floors in
    # pyproject.toml): reading strictly imports neither the validator nor its invariants
    code = (
        "import sys\n"
        "from clinikfhir.models import ModelParseError, parse\n"
        "try:\n"
        "    parse({'resourceType': 'Patient', 'active': 'yes'}, strict=True)\n"
        "except ModelParseError as exc:\n"
        "    print([path for path, _ in exc.problems])\n"
        "print(sorted(m for m in sys.modules if m.startswith('clinikfhir.validation') or 'invariants' in m))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['Patient.active']", "[]"]
