"""Exact JSON decoding and encoding for FHIR: orjson speed without losing a decimal digit.

:func:`decode` uses orjson, whose floats are exact whenever the number's text is the shortest
spelling of its value (``98.6``, ``0.05``). A quick scan of the bytes looks for numbers that a
float cannot spell back (``1.50``, ``1e3``, 16+ significant digits); only then is the text decoded
by the standard library with those numbers kept as :class:`decimal.Decimal`. Either way every
number in the result carries exactly the digits that were sent.

:func:`encode` writes JSON with orjson, emitting :class:`~decimal.Decimal` values digit for digit.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Any

import orjson

# A JSON number in value position (after ':' ',' or '[') that a binary float would respell:
# a fraction ending in 0, an exponent, or 16 or more digits. Text inside strings can match too
# (e.g. "ratio: 1.50"); that only sends the document down the exact (slower) path.
_LOSSY_NUMBER = re.compile(rb"[:,\[]\s*-?(?:[0-9]+\.[0-9]*0(?![0-9])|[0-9]+(?:\.[0-9]+)?[eE]|(?:[0-9]\.?){16})")


class JSONDecodeFailure(ValueError):
    """The bytes are not JSON (position only; the content is never echoed)."""

    def __init__(self, position: int | None) -> None:
        where = f" at character {position}" if position is not None else ""
        super().__init__(f"not valid JSON{where}")
        self.position = position


# Every number with a fraction or exponent in value position, for the marker rewrite.
_DECIMAL_TOKEN = re.compile(rb"([:,\[]\s*)(-?[0-9]+(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+))(?![0-9.eE])")
_MARKER_ESCAPE = b"\\u0000"


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def needs_exact_numbers(raw: bytes) -> bool:
    """True when ``raw`` may hold a number that orjson's floats would respell."""
    return _LOSSY_NUMBER.search(raw) is not None


def decode(data: str | bytes | bytearray | memoryview) -> Any:
    """Decode JSON text, keeping every number's digits (``Decimal`` where a float would not)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not needs_exact_numbers(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # e.g. an integer beyond 64 bits: let the exact decoder decide
    try:
        return json.loads(raw, parse_float=decimal.Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JSONDecodeFailure(exc.pos) from None
    except (ValueError, RecursionError):
        raise JSONDecodeFailure(None) from None


def decimal_text(value: decimal.Decimal) -> str:
    """A decimal's JSON text with its digits: ``1.50`` stays ``1.50``, ``0.0000001`` is not ``1E-7``."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent <= 0:
        return format(value, "f")
    return str(value)


def decode_marked(data: str | bytes | bytearray | memoryview) -> tuple[Any, bool]:
    """Decode for the trusted read path: ``(value, marked)``.

    When some number needs its exact digits, every fraction/exponent number is rewritten in the
    bytes to a string ``"\\u0000<digits>"`` before orjson decodes them (``marked`` is True); the
    model builder turns those markers into ``Decimal`` and :func:`clinikfhir.models._trusted.plain`
    restores them anywhere else. A rewrite can only yield valid JSON when every rewritten token
    really was a number in value position (inside a string it leaves a bare backslash outside any
    string), and documents that already contain ``\\u0000`` take the exact decoder instead, so a
    marker can never be confused with received text.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not needs_exact_numbers(raw):
        try:
            return orjson.loads(raw), False
        except orjson.JSONDecodeError:
            pass
    elif _MARKER_ESCAPE not in raw:
        try:
            return orjson.loads(_DECIMAL_TOKEN.sub(rb'\1"\\u0000\2"', raw)), True
        except orjson.JSONDecodeError:
            pass
    return decode(raw), False


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise TypeError("a FHIR decimal must be finite")
        return orjson.Fragment(decimal_text(value).encode("ascii"))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(value: Any) -> bytes:
    """Encode JSON-like data (dicts, lists, str, numbers, ``Decimal``) to compact UTF-8 JSON."""
    return orjson.dumps(value, default=_default)
