"""``parse_body`` skips the full walk of a body when cheap scans show no bound can break: it must
refuse exactly what the full walk (``check_json``) refuses, wherever the number or the nesting is."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox._http import (
    _BIG_NUMBER,  # pyright: ignore[reportPrivateUsage]
    MAX_JSON_DEPTH,
    GatewayError,
    big_number,
    check_json,
    loads_exact,
    parse_body,
)

_SPACE = st.sampled_from(["", " ", "\n", "\t", " \r\n "])


@st.composite
def _numbers(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "-"]))
    integer = draw(st.sampled_from(["0", "1", "9" * draw(st.integers(1, 320))]))
    fraction = draw(st.sampled_from(["", ".5", "." + "0" * draw(st.integers(1, 330)) + "1"]))
    exponent = ""
    if draw(st.booleans()):
        exponent = draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
        exponent += "0" * draw(st.integers(0, 3)) + str(draw(st.integers(0, 400)))
    return sign + integer + fraction + exponent


def _outcome(raw: bytes, parse: bool) -> str | None:
    try:
        if parse:
            parse_body(raw)
        else:
            check_json(loads_exact(raw))
    except GatewayError as err:
        return err.code
    return None


@settings(max_examples=300, deadline=None)
@example(number="9" * 298 + "e11", before="", after="", where="top")  # 298 digits, e11: 1e308
@given(number=_numbers(), before=_SPACE, after=_SPACE, where=st.sampled_from(["top", "array", "object", "deep"]))
def test_a_number_out_of_range_is_refused_wherever_it_is(number: str, before: str, after: str, where: str) -> None:
    token = before + number + after
    text = {
        "top": token,
        "array": f"[1,{token}]",
        "object": '{"resourceType":"Observation","valueQuantity":{"value":' + token + "}}",
        "deep": '{"id":"urn:uuid:3e2434e3-7a","x":[' * 3 + token + "]}" * 3,
    }[where]
    raw = text.encode()
    assert _outcome(raw, parse=True) == _outcome(raw, parse=False)


_PIECES = st.sampled_from(
    [
        b":",
        b",",
        b"[",
        b"]",
        b"}",
        b"{",
        b'"',
        b" ",
        b"\n",
        b"-",
        b"+",
        b".",
        b"e",
        b"E",
        b"0",
        b"7",
        b"x",
        b"urn:uuid:3e2434e3-",
    ]
)


@st.composite
def _scanned(draw: st.DrawFn) -> bytes:
    """JSON-ish bytes: separators, signs, digits, exponents, runs of up to 210 digits, uuid-like text."""
    parts = draw(st.lists(_PIECES | st.integers(1, 210).map(lambda n: b"9" * n), max_size=40))
    return b"".join(parts)


@settings(max_examples=500, deadline=None)
@example(raw=b":-1.5e0999,")
@example(raw=b'"urn:uuid:3e2434e3-",1e999]')
@example(raw=b"1e0001e500")
@example(raw=b",\n -7e0999]")
@given(raw=_scanned())
def test_the_fast_number_scan_answers_as_the_regex(raw: bytes) -> None:
    assert big_number(raw) == (_BIG_NUMBER.search(raw) is not None)


def test_strings_that_look_like_numbers_are_not_numbers() -> None:
    raw = b'{"resourceType":"Patient","id":"x","identifier":[{"value":"urn:uuid:3e2434e3-7a"},{"value":"1e999"}]}'
    assert parse_body(raw)["identifier"][1]["value"] == "1e999"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_depth_is_checked_on_large_bodies_as_the_full_walk_does(depth: int) -> None:
    wide: Any = [{"a": [1, 2, {"b": "c"}]} for _ in range(60)]  # many brackets, shallow
    deep = "[" * (depth - 1) + "{}" + "]" * (depth - 1)
    raw = ('{"wide":' + str(wide).replace("'", '"') + ',"deep":' + deep + "}").encode()
    expected = _outcome(raw, parse=False)
    assert _outcome(raw, parse=True) == expected
    assert (expected is None) == (depth + 1 <= MAX_JSON_DEPTH)
