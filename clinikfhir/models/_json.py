"""Exact JSON decoding and encoding for FHIR: orjson speed without losing a decimal digit.

:func:`decode` uses orjson, whose floats are exact whenever the number's text is the shortest
spelling of its value (``98.6``, ``0.05``). A quick scan of the bytes looks for numbers that a
float cannot spell back (``1.50``, ``1e3``, 16+ significant digits); only then is the text decoded
by the standard library with those numbers kept as :class:`decimal.Decimal`. Either way every
number in the result carries exactly the digits that were sent.

:func:`encode` writes JSON with orjson, emitting :class:`~decimal.Decimal` values digit for digit.
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import gc
import json
import re
import secrets
from collections.abc import Callable, Generator
from typing import Any, ParamSpec, TypeVar

import orjson

# Numbers that orjson's floats would respell: a fraction of two or more digits ending in 0 (1.50),
# 16 or more digits (precision beyond a double), an exponent (1e3). Candidates come from scans that
# start with a literal character (fast in ``re``); each is then checked to be such a number token
# in value position. Text inside strings can still pass that check (e.g. "ratio: 1.50, ..."),
# which only costs a slower decode (see decode_marked).
_CANDIDATES = (
    # after the dot and one digit: a trailing 0 (1.50), 8+ fraction digits, or 9+ integer digits;
    # stopping at a dot followed by a digit first keeps URLs and text cheap to skip
    (b".", re.compile(rb"\.[0-9](?:[0-9]*0(?=\s*[,}\]])|[0-9]{7}|(?<=[0-9]{9}\.[0-9]))")),
    (b"e", re.compile(rb"e[-+0-9]")),
    (b"E", re.compile(rb"E[-+0-9]")),
)
_NUMBER_CHARS = frozenset(b"0123456789.eE+-")
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SPACE = b" \t\r\n"
_MARKER_ESCAPE = b"\\u0000"
# Exact-number markers: a NUL and a per-process random tag, then the number's digits. Received
# data cannot forge the tag, so a marker is never confused with text that was sent.
MARK_TAG = secrets.token_hex(6)
MARK = "\x00" + MARK_TAG
_MARK_OPEN = b'"\\u0000' + MARK_TAG.encode("ascii")


def _respelled(token: bytes) -> bool:
    """Whether a float would not spell this JSON number token back exactly."""
    if b"e" in token or b"E" in token:
        return True
    _, dot, fraction = token.partition(b".")
    if dot and len(fraction) >= 2 and fraction.endswith(b"0"):
        return True
    return sum(ch in b"0123456789" for ch in token.lstrip(b"-0.")) >= 16


def _lossy_spans(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each number token in value position that a float would respell."""
    spans: set[tuple[int, int]] = set()
    hits: list[int] = []
    for first, pattern in _CANDIDATES:
        # each pattern starts with a literal byte; a memchr for it is ~10x cheaper than the scan
        if first in raw:
            hits.extend(m.start() for m in pattern.finditer(raw))
    size = len(raw)
    for hit in hits:
        start = hit
        while start > 0 and raw[start - 1] in _NUMBER_CHARS:
            start -= 1
        end = hit
        while end < size and raw[end] in _NUMBER_CHARS:
            end += 1
        token = raw[start:end]
        if not _NUMBER.fullmatch(token) or not _respelled(token):
            continue
        before = start - 1
        while before >= 0 and raw[before] in _SPACE:
            before -= 1
        after = end
        while after < size and raw[after] in _SPACE:
            after += 1
        if before >= 0 and raw[before] in b":,[" and after < size and raw[after] in b",}]":
            spans.add((start, end))
    return sorted(spans)


class JSONDecodeFailure(ValueError):
    """The bytes are not JSON (position only; the content is never echoed)."""

    def __init__(self, position: int | None) -> None:
        where = f" at character {position}" if position is not None else ""
        super().__init__(f"not valid JSON{where}")
        self.position = position


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def needs_exact_numbers(raw: bytes) -> bool:
    """True when ``raw`` may hold a number that orjson's floats would respell."""
    return bool(_lossy_spans(raw))


_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextlib.contextmanager
def gc_paused() -> Generator[None, None, None]:
    """Pause the cyclic GC for the block (decoded JSON and the models built from it are acyclic;
    rescanning the growing heap every 700 allocations costs more than the decoding or building).
    The collector is re-enabled afterwards only if it was enabled before. The one definition of
    that pause for the models package."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator form of :func:`gc_paused`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with gc_paused():
            return fn(*args, **kwargs)

    return wrapper


@_gc_paused
def decode(data: str | bytes | bytearray | memoryview) -> Any:
    """Decode JSON text, keeping every number's digits (``Decimal`` where a float would not)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not _lossy_spans(raw):
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
    text = str(value)
    if "E" not in text:  # str() is positional unless the exponent is positive or very negative
        return text
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent <= 0:
        return format(value, "f")
    return text


@_gc_paused
def decode_marked(data: str | bytes | bytearray | memoryview) -> tuple[Any, bool]:
    """Decode for the trusted read path: ``(value, marked)``.

    When some numbers need their exact digits, each of those is rewritten in the bytes to a marker
    string (:data:`MARK`, then the digits) before orjson decodes them (``marked`` is True); the
    model builder turns those markers into ``Decimal`` and :func:`clinikfhir.models._trusted.plain`
    restores them anywhere else. A rewrite can only yield valid JSON when every rewritten token
    really was a number in value position (inside a string it leaves a bare backslash outside any
    string), and documents that already contain ``\\u0000`` take the exact decoder instead, so a
    marker can never be confused with received text.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    spans = _lossy_spans(raw)
    if not spans:
        try:
            return orjson.loads(raw), False
        except orjson.JSONDecodeError:
            pass
    elif b"\\" not in raw or _MARKER_ESCAPE not in raw:  # one memchr usually settles it
        pieces: list[bytes] = []
        pos = 0
        for start, end in spans:
            pieces += (raw[pos:start], _MARK_OPEN, raw[start:end], b'"')
            pos = end
        pieces.append(raw[pos:])
        try:
            return orjson.loads(b"".join(pieces)), True
        except orjson.JSONDecodeError:
            pass
    return decode(raw), False


def decode_lazy(data: str | bytes | bytearray | memoryview) -> Any:
    """Decode a response body for lazy typing, at orjson speed even when decimals need exact digits.

    Like :func:`decode`, except that numbers a float would respell (``1.50``) may be left as
    exact-number marker strings. :func:`clinikfhir.models.parse` reads them as the exact decimals
    they were; pass any other part through :func:`clinikfhir.models.plain` before using it as JSON.
    """
    return decode_marked(data)[0]


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise TypeError("a FHIR decimal must be finite")
        return orjson.Fragment(decimal_text(value).encode("ascii"))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(value: Any) -> bytes:
    """Encode JSON-like data (dicts, lists, str, numbers, ``Decimal``) to compact UTF-8 JSON."""
    return orjson.dumps(value, default=_default)
