"""The indexer's compiled per-type plans give exactly the rows of evaluating every parameter, on all
818 official R4 examples and on Synthea-shaped data; the Python form of Patient's ``deceased``
expression agrees with fhirpathpy; the ASCII shortcut of ``normalise`` agrees with the full form."""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import compile as fp_compile
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS
from clinikfhir.sandbox.search._folds import type_folds
from clinikfhir.sandbox.search._index import (
    _CONTACT_SYSTEMS,
    Rows,
    _coding_row,
    _text,
    build_plan,
    extract,
    extract_with,
    full_text,
    token_rows,
)
from clinikfhir.sandbox.search._paths import compile_expression
from clinikfhir.sandbox.search._values import normalise
from tests.cli.synthea_like import hospital_information, patient_bundle, practitioner_information

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "r4-examples-4.0.1.zip"
DECEASED = SEARCH_PARAMETERS["Patient"]["deceased"].expression


def corpus_resources() -> list[dict[str, Any]]:
    with zipfile.ZipFile(CORPUS) as archive:
        out = [json.loads(archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".json")]
    for seed in range(10):
        out += [e["resource"] for e in patient_bundle(seed)["entry"]]
    out += [e["resource"] for e in hospital_information()["entry"] + practitioner_information()["entry"]]
    return out


def _multiset(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[str]]:
    return {table: sorted(repr(r) for r in table_rows) for table, table_rows in rows.items()}


def test_plans_skip_only_parameters_that_cannot_match() -> None:
    checked = rows = 0
    for resource in corpus_resources():
        params = SEARCH_PARAMETERS.get(resource.get("resourceType", ""))
        if params is None:
            continue
        fast = extract(resource, params)
        every = extract_with(resource, build_plan(params, type_folds(resource["resourceType"])), skip_absent=False)
        assert _multiset(fast) == _multiset(every), resource["resourceType"]
        checked += 1
        rows += sum(len(v) for v in fast.values())
    assert checked > 1000
    assert rows > 10000


def test_leaving_out_repeated_text_rows_keeps_every_token_match() -> None:
    """A text-only token row is left out only when its parameter and group carry the same text on
    another row: every code condition (all rows with a system or code are kept), ``:text`` (the same
    texts per parameter and group) and ``:missing`` (the same parameters and groups) match as before,
    on the official examples and Synthea-shaped data; the other tables are untouched."""
    dropped = 0
    for resource in corpus_resources():
        params = SEARCH_PARAMETERS.get(resource.get("resourceType", ""))
        if params is None:
            continue
        plan = build_plan(params)
        fewer = extract_with(resource, plan)
        every = extract_with(resource, plan, every_text=True)
        others = [t for t in fewer if t != "sp_token"]
        assert [fewer[t] for t in others] == [every[t] for t in others]
        kept, full = fewer["sp_token"], every["sp_token"]
        assert [r for r in full if r[2] is not None or r[3] is not None] == [
            r for r in kept if r[2] is not None or r[3] is not None
        ]
        assert {(r[0], r[1], r[4]) for r in kept if r[4] is not None} == {
            (r[0], r[1], r[4]) for r in full if r[4] is not None
        }
        assert {(r[0], r[1]) for r in kept} == {(r[0], r[1]) for r in full}
        assert all(r in full for r in kept)
        dropped += len(full) - len(kept)
    assert dropped > 500  # the rule does apply (CodeableConcepts whose text is a coding's display)


def test_a_table_that_is_not_the_generated_one_is_planned_on_the_fly() -> None:
    resource = patient_bundle(1)["entry"][0]["resource"]
    params = {code: p for code, p in SEARCH_PARAMETERS["Patient"].items() if code in ("family", "gender")}
    rows = extract(resource, params)
    assert sorted(r[0] for r in rows["sp_string"]) == ["family"]
    assert [r[0] for r in rows["sp_token"]] == ["gender"]


@pytest.mark.parametrize(
    "elements",
    [
        {},
        {"deceasedBoolean": False},
        {"deceasedBoolean": True},
        {"deceasedDateTime": "2020-01-02"},
        {"deceasedBoolean": "false"},
        {"deceasedBoolean": True, "deceasedDateTime": "2020"},
        {"deceasedBoolean": None},
    ],
)
def test_deceased_agrees_with_fhirpathpy(elements: dict[str, Any]) -> None:
    resource = {"resourceType": "Patient", **elements}
    theirs = fp_compile(DECEASED, models["r4"])(resource, {"resource": resource})
    mine = [value for value, _ in compile_expression(DECEASED)(resource, None)]
    assert mine == theirs


def _full_normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_normalise_takes_an_ascii_shortcut_to_the_same_result(text: str) -> None:
    assert normalise(text) == _full_normalise(text)


@given(st.text())
def test_normalise_of_any_text(text: str) -> None:
    assert normalise(text) == _full_normalise(text)


def _every_string(value: Any, out: list[str]) -> None:
    """The reference: every string of a JSON value, depth first, in document order."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:  # pyright: ignore[reportUnknownVariableType]
            _every_string(v, out)
    elif isinstance(value, dict):
        for v in value.values():  # pyright: ignore[reportUnknownVariableType]
            _every_string(v, out)


def _content_reference(resource: dict[str, Any]) -> str:
    strings: list[str] = []
    for key, value in resource.items():
        if key not in ("meta", "text", "id", "resourceType"):
            _every_string(value, strings)
    return normalise(" ".join(strings))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "b", "id", "text"]), inner),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["code", "id", "meta", "note", "value", "text"]), json_values))
def test_content_text_is_every_string_outside_meta_and_narrative(body: dict[str, Any]) -> None:
    resource = {"resourceType": "Observation", **body}
    content = dict(full_text(resource, SEARCH_PARAMETERS["Observation"]))["_content"]
    assert content == _content_reference(resource)


def test_content_text_on_the_corpus() -> None:
    for resource in corpus_resources():
        params = SEARCH_PARAMETERS.get(resource.get("resourceType", ""), {})
        if "_content" in params:
            assert dict(full_text(resource, params))["_content"] == _content_reference(resource)


def _token_rows_general(value: Any, kind: str | None) -> list[tuple[Any, ...]]:
    """The token row maker's cases for an object, in order, without the Coding shortcut (as written
    before it): the reference the shortcut is held to."""
    rows: list[tuple[Any, ...]] = []
    v: dict[str, Any] = value
    if "coding" in v or kind == "CodeableConcept" or set(v) <= {"text", "extension", "id"}:
        codings: list[Any] = v["coding"] if isinstance(v.get("coding"), list) else []
        for coding in codings:
            if isinstance(coding, dict):
                _coding_row("p", 0, coding, rows)  # pyright: ignore[reportUnknownArgumentType]
        if isinstance(v.get("text"), str):
            rows.append(("p", 0, None, None, normalise(v["text"])))
    elif _text(v.get("value")) is not None and (
        kind == "ContactPoint" or (_text(v.get("system")) in _CONTACT_SYSTEMS and "type" not in v)
    ):
        rows.append(("p", 0, _text(v.get("system")), _text(v["value"]), None))
    elif isinstance(v.get("value"), str):
        type_cc = v.get("type")
        text = type_cc.get("text") if isinstance(type_cc, dict) else None
        norm = normalise(text) if isinstance(text, str) else None  # pyright: ignore[reportUnknownArgumentType]
        rows.append(("p", 0, _text(v.get("system")), _text(v.get("value")), norm))
        type_codings: Any = type_cc.get("coding") if isinstance(type_cc, dict) else None
        for coding in type_codings if isinstance(type_codings, list) else []:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(coding, dict) and _text(coding.get("code")):  # pyright: ignore[reportUnknownMemberType]
                system = _text(coding.get("system"))  # pyright: ignore[reportUnknownMemberType]
                rows.append(("p:of-type", 0, system, _text(coding.get("code")), _text(v.get("value"))))  # pyright: ignore[reportUnknownMemberType]
    elif "code" in v or "system" in v:
        _coding_row("p", 0, v, rows)
    return rows


token_values = st.dictionaries(
    st.sampled_from(["code", "coding", "value", "system", "text", "display", "type", "id", "extension"]),
    st.one_of(
        st.sampled_from(["x", "phone", "http://s", "A b"]),
        st.integers(0, 3),
        st.lists(
            st.fixed_dictionaries({"system": st.just("http://s"), "code": st.sampled_from(["c", "d"])}), max_size=2
        ),
        st.fixed_dictionaries({"text": st.just("T"), "coding": st.just([{"code": "t"}])}),
    ),
    max_size=5,
)


@settings(max_examples=300)
@given(token_values, st.sampled_from([None, "CodeableConcept", "Coding", "ContactPoint", "Identifier"]))
def test_the_coding_shortcut_makes_the_rows_of_the_general_cases(value: dict[str, Any], kind: str | None) -> None:
    """``token_rows`` takes a Coding (``code``, no ``coding``, no ``value``, not a CodeableConcept) by a
    shortcut; the general cases in order give the same rows for every object shape."""
    out: Rows = {"sp_token": []}
    token_rows("p", 0, (value, kind), out)
    assert out["sp_token"] == _token_rows_general(value, kind)
