"""The exact JSON codec of FHIR, shared by the models and the sandbox (a leaf: it imports nothing
of clinikfhir): orjson speed without losing a decimal digit.

:func:`decode` uses orjson, whose floats are exact whenever the number's text is the shortest
spelling of its value (``98.6``, ``0.05``). A quick scan of the bytes (:func:`lossy_spans`) looks for
numbers that a float cannot spell back (``1.50``, ``1e3``, 16+ significant digits); only then is the
text decoded by the standard library with those numbers kept as :class:`decimal.Decimal`. Either way
every number in the result carries exactly the digits that were sent.

:func:`encode` writes JSON with orjson, emitting :class:`~decimal.Decimal` values digit for digit.

>>> decode(b'{"value": 1.50, "n": 98.6}')
{'value': Decimal('1.50'), 'n': Decimal('98.6')}
>>> encode(decode(b'{"value": 1.50}'))
b'{"value":1.50}'

The models' trusted read path adds exact-number markers on top (``clinikfhir.models._json``).
"""

from __future__ import annotations

import contextlib
import decimal
import gc
import json
import re
from collections.abc import Generator
from typing import Any

import orjson

# Numbers that orjson's floats would respell: a fraction of two or more digits ending in 0 (1.50),
# 16 or more digits (precision beyond a double), an exponent (1e3), an integer beyond 64 bits, a
# fraction of 300+ digits (maybe below a double's range). Candidates come from scans that start with
# a literal character (fast in ``re``); each is then checked to be such a number token in value
# position. Text inside strings can still pass that check (e.g. "ratio: 1.50, ..."),
# which only costs a slower decode (see decode_marked).
_CANDIDATES = (
    # after the dot and one digit: a trailing 0 (1.50), 8+ fraction digits, or 9+ integer digits;
    # stopping at a dot followed by a digit first keeps URLs and text cheap to skip
    (b".", re.compile(rb"\.[0-9](?:[0-9]*0(?=\s*[,}\]])|[0-9]{7}|(?<=[0-9]{9}\.[0-9]))")),
    (b"e", re.compile(rb"e[-+0-9]")),
    (b"E", re.compile(rb"E[-+0-9]")),
)
# An integer of 19 or more digits may be beyond orjson's 64-bit integers, which it reads as a float
# (18446744073709551616 -> 1.8446744073709552e+19): such a run of digits is found by a translation
# of every digit to "0" and a substring search (no regex tried at every byte).
DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
"""A ``bytes.translate`` table: every digit becomes ``0``, every other byte a space (runs of digits
are then found by a substring search)."""
_LONG_DIGITS = b"0" * 19
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1
_NUMBER_CHARS = frozenset(b"0123456789.eE+-")
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SPACE = b" \t\r\n"


def _respelled(token: bytes) -> bool:
    """Whether a float would not spell this JSON number token back exactly."""
    if b"e" in token or b"E" in token:
        return True
    _, dot, fraction = token.partition(b".")
    if not dot:  # an integer: orjson reads it exactly within its 64-bit range, as a float beyond
        digits = len(token.lstrip(b"-"))
        return digits > 20 or (digits >= 19 and not _MIN_INT <= int(token) <= _MAX_INT)
    if len(fraction) >= 300:  # may be below a double's normal range (2.2e-308): rounded, or read as 0.0
        return True
    if len(fraction) >= 2 and fraction.endswith(b"0"):
        return True
    return sum(ch in b"0123456789" for ch in token.lstrip(b"-0.")) >= 16


def lossy_spans(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each number token in value position that a float would respell."""
    spans: set[tuple[int, int]] = set()
    hits: list[int] = []
    for first, pattern in _CANDIDATES:
        # each pattern starts with a literal byte; a memchr for it is ~10x cheaper than the scan
        if first in raw:
            hits.extend(m.start() for m in pattern.finditer(raw))
    if len(raw) >= len(_LONG_DIGITS):
        digits = raw.translate(DIGITS_AS_ZERO)
        run = digits.find(_LONG_DIGITS)
        while run != -1:
            hits.append(run)
            after_run = digits.find(b" ", run)
            run = -1 if after_run == -1 else digits.find(_LONG_DIGITS, after_run)
    size = len(raw)
    for hit in hits:
        start = hit
        while start > 0 and raw[start - 1] in _NUMBER_CHARS:
            start -= 1
        before = start - 1
        while before >= 0 and raw[before] in _SPACE:
            before -= 1
        if before < 0 or raw[before] not in b":,[":
            continue  # not in value position (e.g. inside a string: a hash, an identifier): the cheap test first
        end = hit
        while end < size and raw[end] in _NUMBER_CHARS:
            end += 1
        token = raw[start:end]
        if not _NUMBER.fullmatch(token) or not _respelled(token):
            continue
        after = end
        while after < size and raw[after] in _SPACE:
            after += 1
        if after < size and raw[after] in b",}]":
            spans.add((start, end))
    return sorted(spans)


class JSONDecodeFailure(ValueError):
    """The bytes are not JSON (position only; the content is never echoed)."""

    def __init__(self, position: int | None) -> None:
        where = f" at character {position}" if position is not None else ""
        super().__init__(f"not valid JSON{where}")
        self.position = position


def _integer(text: str) -> int | decimal.Decimal:
    """A JSON integer: an ``int`` within 64 bits, else a ``Decimal`` of its digits (neither a float
    nor orjson's encoder can hold it; a decimal element reads it exactly, an integer one refuses it)."""
    if len(text) <= 18:
        return int(text)
    exact = decimal.Decimal(text)
    return int(exact) if _MIN_INT <= exact <= _MAX_INT else exact


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


@contextlib.contextmanager
def gc_paused() -> Generator[None, None, None]:
    """Pause the cyclic GC for the block (decoded JSON and the models built from it are acyclic;
    rescanning the growing heap every 700 allocations costs more than the decoding or building).
    The collector is re-enabled afterwards only if it was enabled before. The one definition of
    that pause (the models' reads and builds use it too)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode(data: str | bytes | bytearray | memoryview) -> Any:
    """Decode JSON text, keeping every number's digits (``Decimal`` where a float would not, and for
    an integer beyond 64 bits)."""
    return decode_telling(data)[0]


@gc_paused()
def decode_telling(data: str | bytes | bytearray | memoryview) -> tuple[Any, bool]:
    """:func:`decode`, and whether orjson decoded the text: then its numbers are ints and finite
    floats only (orjson refuses what would be infinite), never a ``Decimal``."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not lossy_spans(raw):
        try:
            return orjson.loads(raw), True
        except orjson.JSONDecodeError:
            pass  # e.g. an integer beyond 64 bits: let the exact decoder decide
    try:
        return json.loads(raw, parse_float=decimal.Decimal, parse_int=_integer, parse_constant=_reject_constant), False
    except json.JSONDecodeError as exc:
        raise JSONDecodeFailure(exc.pos) from None
    except (ValueError, RecursionError):
        raise JSONDecodeFailure(None) from None


def decimal_text(value: decimal.Decimal) -> str:
    """A decimal's JSON text with its digits: ``1.50`` stays ``1.50``, ``0.0000001`` is not ``1E-7``."""
    text = str(value)
    if "E" not in text:  # str() is positional unless the exponent is positive or very negative
        return text
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent <= 0:
        return format(value, "f")
    return text


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise TypeError("a FHIR decimal must be finite")
        return orjson.Fragment(decimal_text(value).encode("ascii"))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(value: Any) -> bytes:
    """Encode JSON-like data (dicts, lists, str, numbers, ``Decimal``) to compact UTF-8 JSON."""
    return orjson.dumps(value, default=_default)
