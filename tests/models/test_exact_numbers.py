"""Property tests of the exact-number decoding: whatever the spelling of a JSON number and wherever
it sits (object member, array item, any whitespace), the trusted read path gets its exact digits."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir.models import decode, decode_lazy, plain
from clinikfhir.models._trusted import _decimal  # pyright: ignore[reportPrivateUsage]


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """JSON number spellings, weighted towards the ones a float would respell."""
    sign = draw(st.sampled_from(["", "-"]))
    whole = draw(
        st.sampled_from(
            [
                *("0", "1", "12", "100", "123456789", "1234567890123456", "99999999999999999"),
                # integers beyond 64 bits (orjson reads those as floats)
                *("9223372036854775809", "18446744073709551616", "123456789012345678901234567890"),
            ]
        )
    )
    fraction = draw(st.from_regex(r"(\.[0-9]{1,20})?", fullmatch=True))
    zeros = draw(st.sampled_from(["", "0", "00"])) if fraction else ""
    exponent = draw(st.from_regex(r"([eE][-+]?[0-9]{1,3})?", fullmatch=True))
    return f"{sign}{whole}{fraction}{zeros}{exponent}"


def _exact(value: Any) -> Any:
    """The value the model builder sees for a decimal element: floats at their shortest text."""
    if isinstance(value, float):
        return _decimal(value).as_tuple()
    if isinstance(value, Decimal):
        return value.as_tuple()
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_exact(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, str) and value.startswith("\x00"):
        return _decimal(value).as_tuple()
    return value


def _reference(raw: str) -> Any:
    def as_tuple(text: str) -> Any:
        return Decimal(text).as_tuple()

    def integer(text: str) -> Any:
        """An integer beyond 64 bits keeps its digits as an exact number (a float would round it)."""
        value = int(text)
        return value if -(2**63) <= value <= 2**64 - 1 else as_tuple(text)

    return json.loads(raw, parse_float=as_tuple, parse_int=integer)


space = st.sampled_from(["", " ", "\n  ", "\t", "\r\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(number_texts(), min_size=1, max_size=6), space, space, st.sampled_from(["object", "array"]))
def test_every_number_keeps_its_digits(numbers: list[str], before: str, after: str, shape: str) -> None:
    if shape == "object":
        raw = "{" + ",".join(f'"k{i}":{before}{n}{after}' for i, n in enumerate(numbers)) + "}"
    else:
        raw = '{"a":[' + ",".join(f"{before}{n}{after}" for n in numbers) + '],"t":"1.50 e5"}'
    try:
        expected = _reference(raw)
    except ValueError:  # out-of-range exponents and the like: not this test's subject
        return
    for decoded in (decode(raw), decode_lazy(raw)):
        got = _exact(decoded)
        if isinstance(expected, dict) and "a" in expected:
            assert got["a"] == expected["a"]
        else:
            assert got == expected
    assert _exact(plain(decode_lazy(raw))) == expected
