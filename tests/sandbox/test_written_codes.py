"""What a transaction's created resources hold, as its waiting conditional creates ask
(``_bundle._Written``): found in the stored text without decoding it, never missing a string value
the resource holds (escaped characters, quotes, backslashes, control characters, non-ASCII, next to
exact decimals), and in time linear in the text whatever the number of codes asked; and the split of
an ``ifNoneExist`` query."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox import _bundle
from clinikfhir.sandbox._bundle import _FEW, _Asked, _Entry, _query_pairs, _Written
from clinikfhir.sandbox._fhir import canonical

# strings with what JSON escapes (quotes, backslashes, control characters) and what it does not
texts = st.text(
    alphabet=st.sampled_from(['"', "\\", "\n", "\x01", "\u2028", "é", "/", "a", "b", ",", "|", " "]), max_size=6
)
scalars = st.one_of(
    texts,
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.decimals(allow_nan=False, allow_infinity=False, places=0),
    st.integers(-(2**63), 2**63 - 1),  # beyond: a Decimal (what the exact decoder reads)
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=25,
)


def _strings(value: Any) -> set[str]:
    """Every string value (not key) of decoded JSON."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return set()


def _stored(body: dict[str, Any]) -> str:
    """The text the sandbox stores for a created resource (``_fhir.canonical``)."""
    text, _ = canonical({"resourceType": "Basic", **body}, "Basic", "x1", 1, "2026-01-01T00:00:00.000001Z")
    return text


@settings(max_examples=300, deadline=None)
@given(
    body=st.dictionaries(texts, json_values, max_size=5),
    others=st.lists(texts, max_size=3 * _FEW),
    picked=st.integers(0, 2**32),
)
def test_every_asked_string_value_of_a_created_resource_is_found(
    body: dict[str, Any], others: list[str], picked: int
) -> None:
    text = _stored(body)
    held = _strings(orjson.loads(text))
    # codes the resource holds (some of them) and others; few or many, quoted or not
    ours = sorted(held)[: picked % (len(held) + 1)]
    asked = _Asked()
    for n in range(picked % 4):  # codes asked once each, or by several conditional creates
        asked.ask(ours[n::4] or None)
    asked.ask([*ours, *others])
    asked.look(text)
    assert set(ours) <= asked.held
    assert asked.held <= set(ours) | set(others)


ESCAPED = ["a\nb", "back\\slash", 'q"uote', "\x01", "é", "\u2028", "a/b", "\\"]


@pytest.mark.parametrize("others", [0, _FEW, 10 * _FEW])
def test_escaped_strings_are_found_among_few_or_many_codes(others: int) -> None:
    text = _stored({"x": ESCAPED, "value": Decimal("2.50")})
    asked = _Asked()
    asked.ask([*ESCAPED, *(f"o{n}" for n in range(others))])
    asked.look(text)
    assert asked.held == set(ESCAPED)


def test_a_code_spelled_like_a_decimal_is_not_the_decimal() -> None:
    text = _stored({"value": Decimal("1.50"), "code": "1.5"})
    for many in (False, True):
        asked = _Asked()
        asked.ask(["1.50", "1.5", *([f"x{n}" for n in range(2 * _FEW)] if many else [])])
        asked.look(text)
        assert "1.5" in asked.held
        assert "1.50" not in asked.held  # a bare number in the text, not a string


class _Counted(str):
    """A stored text that counts the passes over it (substring searches and splits)."""

    passes = 0

    def __contains__(self, key: object) -> bool:
        _Counted.passes += 1
        return super().__contains__(key)  # type: ignore[operator]

    def split(self, sep: str | None = None, maxsplit: int = -1) -> list[str]:  # type: ignore[override]
        _Counted.passes += 1
        return super().split(sep, maxsplit)


def test_the_passes_over_a_created_resource_do_not_grow_with_the_codes_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    def loads(text: str) -> Any:  # a decoding of the text is a pass, too
        _Counted.passes += 1
        return orjson.loads(str(text))

    monkeypatch.setattr(_bundle, "orjson", SimpleNamespace(loads=loads, dumps=orjson.dumps))
    text = _stored({"identifier": [{"value": 'q"7'}, {"value": "v7"}]})
    for plain, quoted in [(1, 0), (_FEW, 0), (10 * _FEW, 0), (0, 10 * _FEW), (10 * _FEW, _FEW), (_FEW, 10 * _FEW)]:
        asked = _Asked()
        asked.ask([f"v{n}" for n in range(plain)] + [f'q"{n}' for n in range(quoted)])
        _Counted.passes = 0
        asked.look(_Counted(text))
        assert _Counted.passes <= _FEW + 1, (plain, quoted)
        assert asked.held == {code for code, n in (("v7", plain), ('q"7', quoted)) if n > 7}


def test_only_the_codes_of_conditional_creates_still_waiting_are_looked_for() -> None:
    def entry(index: int, codes: list[str] | None) -> _Entry:
        e = _Entry(index, "POST", ["Patient"], [], {}, None, None, "x")
        e.matched, e.codes = [], codes
        return e

    def observation(codes: list[str]) -> _Entry:
        e = entry(9, codes)
        e.segs = ["Observation"]
        return e

    waiting = [entry(0, ["a"]), entry(1, ["b", "c"]), entry(2, ["a", "d"]), entry(3, None), observation(["b"])]
    written = _Written(waiting)
    assert written.first_answer_holds("Patient", ["a"])
    written.add("Patient", _stored({"x": ["a", "b", "c"]}))
    assert not written.first_answer_holds("Patient", ["b", "c"])  # the created resource holds both
    assert written.first_answer_holds("Patient", ["a", "d"])  # not "d"
    assert not written.first_answer_holds("Patient", None)  # not plain tokens: anything may match
    assert written.first_answer_holds("Observation", ["b"])  # another type
    written.add("Patient", _stored({"x": ["d"]}))  # nobody of its type waits: nothing is looked at


@settings(max_examples=500, deadline=None)
@given(query=st.text(alphabet=st.sampled_from(list('ab=&%+|?:,\\ 2F"é;')), max_size=12))
def test_an_if_none_exist_query_is_split_as_parse_qsl_splits_it(query: str) -> None:
    assert _query_pairs(query) == parse_qsl(query, keep_blank_values=True)
