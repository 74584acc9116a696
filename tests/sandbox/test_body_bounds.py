"""``parse_body`` skips the full walk of a body when cheap scans show no bound can break: it must
refuse exactly what the full walk (``check_json``) refuses, wherever the number or the nesting is."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clinikfhir._json import decode_telling
from clinikfhir.sandbox._http import (
    _BIG_NUMBER,  # pyright: ignore[reportPrivateUsage]
    MAX_JSON_DEPTH,
    GatewayError,
    big_number,
    check_json,
    loads_exact,
    nests_deeper,
    parse_body,
)

FHIR = "application/fhir+json"
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


@settings(max_examples=300, deadline=None)
@example(number="1.50", before="", after="")
@example(number="9" * 30, before="", after="")
@given(number=_numbers(), before=_SPACE, after=_SPACE)
def test_the_body_decodes_as_the_exact_decoder_and_says_when_its_numbers_are_orjsons(
    number: str, before: str, after: str
) -> None:
    """``parse_body`` skips the number scan when orjson decoded the body: then no Decimal is in it,
    and either way every number keeps the digits that were sent."""
    token = before + number + after
    raw = ('{"a":"1e999","x":[' + token + "," + token + "]}").encode()
    value, floats = decode_telling(raw)
    assert repr(value) == repr(loads_exact(raw))
    exact = json.loads(raw, parse_float=Decimal)["x"]
    assert [str(Decimal(repr(v))) if isinstance(v, float) else str(v) for v in value["x"]] == [str(v) for v in exact]
    if floats:
        assert repr(value) == repr(orjson.loads(raw))
        assert not any(isinstance(v, Decimal) for v in value["x"])


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


def _levels(value: object) -> int:
    """How deep objects and arrays nest in ``value`` (the reference: a walk of the decoded value)."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        deeper: list[Any] = []
        for item in level:
            children: list[Any] = list(cast("dict[str, Any]", item).values()) if isinstance(item, dict) else item
            deeper.extend(child for child in children if isinstance(child, dict | list))  # pyright: ignore[reportUnknownArgumentType]
        level = deeper
    return depth


# strings full of what the byte scan must see through: brackets, quotes, escapes, runs of backslashes
_TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}"\\/\n\tx\u00e9\u2028\U0001f600')), max_size=12)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False) | _TRICKY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TRICKY_TEXT, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@example(value=[{"a\\": ['\\"[', {}]}], ascii=True, indent=None)
@example(value={'"]}': [[[["\\"]]]]}, ascii=False, indent=2)
@given(value=_JSON_VALUES, ascii=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_the_byte_scan_measures_nesting_as_the_walk_does(value: Any, ascii: bool, indent: int | None) -> None:
    raw = json.dumps(value, ensure_ascii=ascii, indent=indent).encode()
    depth = _levels(loads_exact(raw))
    for limit in range(depth + 2):
        assert nests_deeper(raw, limit) == (depth > limit)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1])
@pytest.mark.parametrize("shape", ["arrays", "objects", "mixed"])
def test_the_byte_scan_finds_the_deepest_branch_among_shallow_ones(depth: int, shape: str) -> None:
    opening = {"arrays": ["["], "objects": ['{"k":'], "mixed": ["[", '{"[":']}[shape]
    closing = {"[": "]", '{"k":': "}", '{"[":': "}"}
    opens = [opening[i % len(opening)] for i in range(depth - 1)]
    deep = "".join(opens) + "{}" + "".join(closing[o] for o in reversed(opens))
    raw = ('{"wide":[' + ",".join(['{"a":["]]]"]}'] * 80) + '],"deep":' + deep + "}").encode()
    assert _levels(loads_exact(raw)) == depth + 1
    assert nests_deeper(raw, MAX_JSON_DEPTH) == (depth + 1 > MAX_JSON_DEPTH)
    assert (_outcome(raw, parse=True) is None) == (depth + 1 <= MAX_JSON_DEPTH)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize(
    "text",
    [
        '{"resourceType":"Patient","x":1e999}',
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
    ],
)
def test_json_in_utf16_or_utf32_is_held_to_the_same_bounds(text: str, encoding: str) -> None:
    """The exact decoder reads UTF-16 and UTF-32 too; the byte scans read UTF-8, so such a body is walked."""
    raw = text.encode(encoding)
    assert _outcome(raw, parse=True) == _outcome(text.encode(), parse=True) == "INVALID_JSON"


def test_a_utf16_body_with_a_number_out_of_range_gets_a_400_naming_where() -> None:
    """It used to pass the byte scans (which read UTF-8) and fail at the store with a 500."""
    from clinikfhir.sandbox import Sandbox

    sandbox = Sandbox()
    try:
        client = sandbox.client(sandbox.create_key("org_a"))
        text = '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e999}}'
        r = client.post("/v1/fhir/Observation", content=text.encode("utf-16"), headers={"content-type": FHIR})
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "INVALID_JSON"
        assert r.json()["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
        assert sandbox.gateway.internal_errors == []
    finally:
        sandbox.close()
