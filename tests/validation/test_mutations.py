"""A mutation corpus: each valid official example broken in exactly one way must be rejected with the
right element path and rule key, and the message must not echo the value put there."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir._structure import Field, node, value_set_codes
from clinikfhir.validation import validate

from ._corpus import load, valid_names

BAD = "zz-not-valid-7f3a"  # a marker value: it must never appear in a message


@dataclass
class Site:
    """One JSON location of a resource's own elements (contained and entry resources excluded)."""

    parent: dict[str, Any]
    key: str
    index: int | None
    field: Field
    path: str

    @property
    def value(self) -> Any:
        v = self.parent[self.key]
        return v if self.index is None else v[self.index]

    def set(self, value: Any) -> None:
        if self.index is None:
            self.parent[self.key] = value
        else:
            self.parent[self.key][self.index] = value


def sites(obj: dict[str, Any], node_name: str, path: str) -> Iterator[Site]:
    spec = node(node_name)
    assert spec is not None
    for key, value in obj.items():
        field = spec.fields.get(key)
        if field is None or field.child == "Resource":
            continue
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            here = path + "." + key + ("" if index is None else f"[{index}]")
            if item is None:
                continue
            yield Site(obj, key, index, field, here)
            if field.child and isinstance(item, dict):
                yield from sites(item, field.child, here)


def first(data: dict[str, Any], pred: Callable[[Site], bool]) -> Site | None:
    return next((s for s in sites(data, data["resourceType"], data["resourceType"]) if pred(s)), None)


Mutation = Callable[[dict[str, Any]], tuple[str, str] | None]  # mutate in place -> expected (path, key)


def bad_code(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(
        data,
        lambda s: (
            s.field.type == "code"
            and bool(s.field.element.value_set)
            and value_set_codes(s.field.element.value_set) is not None
        ),
    )
    if s is None:
        return None
    s.set(BAD)
    return s.path, "binding"


def bad_concept(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(
        data,
        lambda s: (
            s.field.type in ("CodeableConcept", "Coding")
            and bool(s.field.element.value_set)
            and value_set_codes(s.field.element.value_set) is not None
        ),
    )
    if s is None:
        return None
    coding = {"system": "http://example.org/not-the-system", "code": BAD}
    s.set({"coding": [coding]} if s.field.type == "CodeableConcept" else coding)
    return s.path, "binding"


def wrong_target(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(
        data,
        lambda s: (
            s.field.type == "Reference"
            and bool(s.field.element.targets)
            and "Resource" not in s.field.element.targets
            and isinstance(s.value, dict)
            and "reference" in s.value
        ),
    )
    if s is None:
        return None
    wrong = min(RESOURCE_TYPES - s.field.element.targets - {"Resource", "DomainResource"})
    s.value["reference"] = f"{wrong}/{BAD}"
    s.value.pop("type", None)
    return s.path + ".reference", "reference-target"


def missing_required(data: dict[str, Any]) -> tuple[str, str] | None:
    spec = node(data["resourceType"])
    assert spec is not None
    for element in spec.required:
        keys = [k for k, f in spec.fields.items() if f.element is element and (k in data or "_" + k in data)]
        if keys:
            for k in keys:
                data.pop(k, None)
                data.pop("_" + k, None)
            choice = any(spec.fields[k].choice for k in keys)
            return f"{data['resourceType']}.{element.name}{'[x]' if choice else ''}", "cardinality"
    return None


def long_id(data: dict[str, Any]) -> tuple[str, str] | None:
    data["id"] = "a" * 65
    return f"{data['resourceType']}.id", "id"


def yes_for_boolean(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(data, lambda s: s.field.type == "boolean")
    if s is None:
        return None
    s.set("yes")
    return s.path, "type"


def string_for_integer(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(data, lambda s: s.field.type in ("integer", "positiveInt", "unsignedInt"))
    if s is None:
        return None
    s.set("1")
    return s.path, "type"


def bad_datetime(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(data, lambda s: s.field.type in ("dateTime", "date", "instant"))
    if s is None:
        return None
    s.set("2020-13-45")
    return s.path, "format"


def unknown_element(data: dict[str, Any]) -> tuple[str, str] | None:
    data["bogusElement"] = BAD
    return f"{data['resourceType']}.bogusElement", "unknown-element"


def empty_element(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(data, lambda s: s.field.type in ("CodeableConcept", "Identifier", "HumanName", "Address", "Period"))
    if s is None:
        return None
    s.set({})
    return s.path, "ele-1"


def reversed_period(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(data, lambda s: s.field.type == "Period")
    if s is None:
        return None
    s.set({"start": "2021-02-01", "end": "2021-01-01T10:00:00Z"})
    return s.path, "per-1"


def extension_with_both(data: dict[str, Any]) -> tuple[str, str] | None:
    spec = node(data["resourceType"])
    if spec is None or "extension" not in spec.fields:  # Bundle, Binary, Parameters have none
        return None
    data.setdefault("extension", []).append(
        {"url": "http://example.org/ext", "valueString": BAD, "extension": [{"url": "x", "valueString": BAD}]}
    )
    return f"{data['resourceType']}.extension[{len(data['extension']) - 1}]", "ext-1"


def quantity_code_without_system(data: dict[str, Any]) -> tuple[str, str] | None:
    s = first(data, lambda s: s.field.type == "Quantity" and isinstance(s.value, dict) and "code" in s.value)
    if s is None:
        return None
    s.value.pop("system", None)
    return s.path, "qty-3"


def comparator_on_simple_quantity(data: dict[str, Any]) -> tuple[str, str] | None:
    # an element whose type carries the SimpleQuantity profile (Observation.referenceRange.low,
    # Range.low/high, Dosage doses...): a comparator is forbidden there (sqty-1; max 0)
    s = first(data, lambda s: s.field.child == "SimpleQuantity" and isinstance(s.value, dict))
    if s is None:
        return None
    s.value["comparator"] = "<"
    return s.path, "sqty-1"


UCUM_RULES = {"Age": "age-1", "Duration": "drt-1", "Distance": "dis-1", "Count": "cnt-3"}


def quantity_type_not_ucum(data: dict[str, Any]) -> tuple[str, str] | None:
    # Age/Duration/Distance/Count as the element type: coded units SHALL be UCUM
    s = first(data, lambda s: s.field.type in UCUM_RULES and isinstance(s.value, dict))
    if s is None:
        return None
    s.value.setdefault("value", 1)
    s.value.setdefault("code", "1" if s.field.type == "Count" else "a")
    s.value["system"] = "http://example.org/not-ucum"
    return s.path, UCUM_RULES[s.field.type]


def resource_invariant(data: dict[str, Any]) -> tuple[str, str] | None:
    rtype = data["resourceType"]
    if rtype == "Observation" and any(k.startswith("value") for k in data):
        data["dataAbsentReason"] = {"text": BAD}
        return "Observation", "obs-6"
    if rtype == "Patient":
        data.setdefault("contact", []).append({"gender": "other"})
        return f"Patient.contact[{len(data['contact']) - 1}]", "pat-1"
    if rtype in ("Organization",) and not data.get("name") and not data.get("identifier"):
        return None
    if rtype == "Organization":
        data.pop("name", None)
        data.pop("identifier", None)
        return "Organization", "org-1"
    if rtype == "Condition" and data.get("abatementDateTime") is None and "clinicalStatus" in data:
        data["abatementDateTime"] = "2020-01-01"
        data["clinicalStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        }
        return "Condition", "con-4"
    if rtype not in ("Bundle", "Binary", "Parameters") and "contained" not in data:
        data["contained"] = [{"resourceType": "Basic", "id": "orphan", "code": {"text": BAD}}]
        return f"{rtype}.contained[0]", "dom-3"
    return None


MUTATIONS: dict[str, Mutation] = {
    f.__name__: f
    for f in (
        bad_code,
        bad_concept,
        wrong_target,
        missing_required,
        long_id,
        yes_for_boolean,
        string_for_integer,
        bad_datetime,
        unknown_element,
        empty_element,
        reversed_period,
        extension_with_both,
        quantity_code_without_system,
        comparator_on_simple_quantity,
        quantity_type_not_ucum,
        resource_invariant,
    )
}


def build_cases() -> list[tuple[str, str, dict[str, Any], tuple[str, str]]]:
    cases = []
    for name in valid_names():
        original = load(name)
        for kind, mutate in MUTATIONS.items():
            data = copy.deepcopy(original)
            expected = mutate(data)
            if expected is not None:
                cases.append((name, kind, data, expected))
    return cases


@pytest.mark.slow
def test_mutation_corpus_is_rejected_with_path_and_key() -> None:
    cases = build_cases()
    per_kind: dict[str, int] = {}
    missed = []
    echoed = []
    for name, kind, data, (path, key) in cases:
        per_kind[kind] = per_kind.get(kind, 0) + 1
        issues = validate(data)
        if not any(i.is_error and i.path == path and i.key == key for i in issues):
            missed.append((name, kind, path, key, [str(i) for i in issues if i.is_error][:5]))
        echoed.extend((name, kind) for i in issues if BAD in i.message or BAD in i.path)
    assert missed == []
    assert echoed == []
    assert len(cases) >= 200
    assert all(n >= 5 for n in per_kind.values()), per_kind


def test_each_mutation_kind_applies_to_the_typical_examples() -> None:
    # a fast, always-run subset: Patient and Observation examples, every mutation kind that applies
    for name in ("Patient-example.json", "Observation-example.json", "Observation-blood-pressure.json"):
        for kind, mutate in MUTATIONS.items():
            data = load(name)
            expected = mutate(data)
            if expected is None:
                continue
            issues = validate(data)
            assert any(i.path == expected[0] and i.key == expected[1] for i in issues), (name, kind, issues)
