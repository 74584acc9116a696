"""The invariants compiled by codegen agree with fhirpathpy, the reference FHIRPath engine, at every
element instance of the corpus and of its mutations (where fhirpathpy can evaluate the expression)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from clinikfhir._generated.invariants import COMPILED, EXPRESSIONS, FALLBACK, NATIVE
from clinikfhir._generated.validation_schema import CONSTRAINTS
from clinikfhir._structure import node
from clinikfhir.validation._validate import evaluate_with_fhirpathpy

from ._corpus import load, valid_names
from .test_mutations import MUTATIONS, sites

# fhirpathpy lacks hasValue() (FHIR's FHIRPath extension): on an instance without primitive extensions
# (no "_x" keys) it means exists(), so fhirpathpy is given that expression there, and skipped elsewhere
HAS_VALUE = "hasValue()"
# where fhirpathpy is wrong: `answer is Boolean` is false for answerBoolean (it does not map FHIR boolean
# to System.Boolean), so it rejects the valid spec example Questionnaire-bb; see test_que_7 below
ENGINE_BUGS = {"que-7"}


def instances(data: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """(invariant key, element instance, its type path) for every invariant instance of a resource."""
    spec = node(data["resourceType"])
    assert spec is not None
    for key in spec.invariants:
        yield key, data, ""
    for site in sites(data, data["resourceType"], data["resourceType"]):
        value = site.value
        if site.field.child and isinstance(value, dict):
            child = node(site.field.child)
            assert child is not None
            for key in child.invariants:
                yield key, value, site.field.child
        for key in site.field.element.invariants:
            yield key, value, site.field.child


def _has_primitive_extensions(value: Any) -> bool:
    return isinstance(value, dict) and any(k.startswith("_") for k in value)


@pytest.mark.slow
def test_compiled_invariants_agree_with_fhirpathpy() -> None:
    compared = violations = 0
    unevaluable: set[str] = set()
    disagreements = []
    for name in valid_names():
        originals = [load(name)]
        for mutate in (
            MUTATIONS["resource_invariant"],
            MUTATIONS["reversed_period"],
            MUTATIONS["empty_element"],
            MUTATIONS["quantity_code_without_system"],
        ):
            data = copy.deepcopy(originals[0])
            if mutate(data) is not None:
                originals.append(data)
        for data in originals:
            for key, value, type_path in instances(data):
                if key in NATIVE or key not in COMPILED or key in ENGINE_BUGS:
                    continue
                expr = EXPRESSIONS[key]
                if HAS_VALUE in expr:
                    if _has_primitive_extensions(value):
                        continue
                    expr = expr.replace(HAS_VALUE, "exists()")
                mine = COMPILED[key]([value], data, data) == [False]
                try:
                    theirs = evaluate_with_fhirpathpy(expr, value, data, data, type_path) == [False]
                except Exception:  # fhirpathpy cannot evaluate this one (e.g. Quantity ordering)
                    unevaluable.add(key)
                    continue
                compared += 1
                violations += mine
                if mine != theirs:
                    disagreements.append((name, key, type_path, mine, theirs))
    assert disagreements == [], disagreements
    assert unevaluable <= {"rng-2"}  # fhirpathpy does not order Quantities
    assert compared > 10_000
    assert violations > 250  # the comparison covers failing rules, not only passing ones


def test_every_invariant_is_compiled_or_native() -> None:
    # no invariant of R4 is left to fhirpathpy at run time, none is silently skipped
    assert FALLBACK == {}
    assert set(COMPILED) | set(NATIVE) == set(CONSTRAINTS)


def test_que_7_type_test_on_a_choice() -> None:
    from clinikfhir.validation import validate

    def questionnaire(answer: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [
                {"linkId": "a", "type": "boolean"},
                {"linkId": "b", "type": "string", "enableWhen": [{"question": "a", "operator": "exists", **answer}]},
            ],
        }

    assert [i.key for i in validate(questionnaire({"answerBoolean": True}), level="error")] == []
    issues = validate(questionnaire({"answerString": "x"}), level="error")
    assert [(i.key, i.path) for i in issues] == [("que-7", "Questionnaire.item[1].enableWhen[0]")]


# -- an invariant that raises is loud, never a silently disabled rule -------------------------------


@pytest.mark.slow
def test_no_corpus_resource_has_an_invariant_that_cannot_be_evaluated() -> None:
    from clinikfhir.validation import validate

    from ._corpus import examples

    unevaluated = {}
    for name in examples():  # the known-invalid examples too: their other rules must still run
        issues = [str(i) for i in validate(load(name), level="information") if i.code == "exception"]
        if issues:
            unevaluated[name] = issues
    assert unevaluated == {}


def _broken_rule(focus: list[Any], resource: Any, root: Any) -> list[Any]:
    raise ZeroDivisionError  # stands for a bug in a compiled rule or in the runtime it calls


def test_a_rule_that_raises_is_a_warning_issue_and_a_python_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # the rule table is the validator's input: one rule is replaced by a broken one
    from clinikfhir.validation import InvariantNotEvaluatedWarning, validate

    monkeypatch.setitem(COMPILED, "pat-1", _broken_rule)
    patient = {"resourceType": "Patient", "text": load("Patient-example.json")["text"], "contact": [{"gender": "male"}]}
    with pytest.warns(InvariantNotEvaluatedWarning, match=r"^invariant pat-1 could not be evaluated") as caught:
        issues = validate(patient)
    assert [(i.severity, i.code, i.key, i.path, i.message) for i in issues] == [
        ("warning", "exception", "pat-1", "Patient.contact[0]", "invariant pat-1 could not be evaluated")
    ]
    assert len(caught) == 1  # one warning per rule, not one per instance
    assert [w.message.rule for w in caught if isinstance(w.message, InvariantNotEvaluatedWarning)] == ["pat-1"]
    # it does not block a write: level="error" (blocking issues only) leaves it out
    with pytest.warns(InvariantNotEvaluatedWarning):
        assert validate(patient, level="error") == []
    # and this test suite makes it an error (pyproject.toml: filterwarnings)
    with pytest.raises(InvariantNotEvaluatedWarning, match="pat-1"):
        validate(patient)


def test_a_rule_that_raises_on_an_already_invalid_resource_is_only_an_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from clinikfhir.validation import validate

    monkeypatch.setitem(COMPILED, "pat-1", _broken_rule)
    patient = {"resourceType": "Patient", "gender": "unknown-to-r4", "contact": [{"gender": "male"}, {}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Python warning: the write is refused anyway
        issues = validate(patient, level="information")
    assert [(i.severity, i.key, i.path) for i in issues if i.key == "pat-1"] == [
        ("warning", "pat-1", "Patient.contact[0]"),
        ("warning", "pat-1", "Patient.contact[1]"),
    ]
