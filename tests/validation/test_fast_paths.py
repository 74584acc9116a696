"""The validator's fast paths answer exactly as the slow forms they stand for (property tests)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clinikfhir._generated.invariants as invariants
from clinikfhir.validation import _fp as fp
from clinikfhir.validation import validate

from . import _corpus as corpus
from .test_mutations import build_cases

NAMES = ["value", "valueQuantity", "valueString", "_value", "contained", "meta", "code", "status", "_status"]
leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", "2020-01-01"]))
values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
    max_leaves=12,
)


def reference_nav(coll: list[Any], name: str, choice: bool) -> list[Any]:
    """``nav`` as it was written before its list fast path: every child through ``_add``."""
    out: list[Any] = []
    for item in coll:
        if not isinstance(item, dict):
            continue
        value = item.get(name)
        if value is not None:
            fp._add(out, value)  # pyright: ignore[reportPrivateUsage]
            continue
        ext = item.get("_" + name)
        if ext is not None:
            out.extend([fp.NO_VALUE] * (len(ext) if isinstance(ext, list) else 1))
            continue
        if choice:
            size = len(name)
            for key in item:
                if len(key) > size and key.startswith(name) and key[size].isupper():
                    fp._add(out, item[key])  # pyright: ignore[reportPrivateUsage]
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=4), st.sampled_from(["value", "contained", "status", "meta"]), st.booleans())
def test_nav_is_the_reference_navigation(coll: list[Any], name: str, choice: bool) -> None:
    assert fp.nav(coll, name, choice) == reference_nav(coll, name, choice)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=3), st.lists(values, max_size=3))
def test_eq_is_the_pairwise_equality(a: list[Any], b: list[Any]) -> None:
    if not a or not b:
        expected: list[Any] = []
    elif len(a) != len(b):
        expected = [False]
    else:
        expected = [all(fp._equal(x, y) for x, y in zip(a, b, strict=True))]  # pyright: ignore[reportPrivateUsage]
    assert fp.op_eq(a, b) == expected


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([n for n in NAMES if n != "contained"]), values, max_size=5))
def test_rules_on_contained_resources_hold_when_nothing_is_contained(resource: dict[str, Any]) -> None:
    """The validator skips dom-2, dom-4 and dom-5 on a resource without ``contained``: their compiled
    forms hold on every such resource, whatever else it has."""
    resource = {"resourceType": "Patient", **resource}
    for key in ("dom-2", "dom-4", "dom-5"):
        assert invariants.COMPILED[key]([resource], resource, resource) == [True]


def _policies_agree(data: dict[str, Any]) -> None:
    everything = validate(data, level="information")
    assert validate(data, level="error") == [i for i in everything if i.is_error]
    rules = [*sorted({i.key for i in everything if i.key})[:2], "dom-6", "con-3", "ele-1"]
    assert validate(data, level="error", ignore=rules) == [i for i in everything if i.is_error and i.key not in rules]
    assert validate(data, ignore=rules) == [i for i in everything if i.severity != "information" and i.key not in rules]


def test_only_errors_wanted_skips_warning_rules_with_the_same_answer_on_the_corpus() -> None:
    """``level="error"`` does not evaluate warning-only invariants (dom-6, con-3...) and ``ignore``d
    rules are not evaluated: the issues are exactly those of the full policy, filtered. Every 4th
    official example and every spec example known to be invalid."""
    names = sorted(corpus.examples())
    chosen = set(names[::4]) | set(corpus.KNOWN_INVALID)
    for name in sorted(chosen):
        _policies_agree(corpus.load(name))


@pytest.mark.slow
def test_only_errors_wanted_gives_the_same_answer_on_the_mutation_corpus() -> None:
    """The same on every known-bad mutation of the corpus (each has at least one error)."""
    for _, _, data, _ in build_cases():
        _policies_agree(data)
