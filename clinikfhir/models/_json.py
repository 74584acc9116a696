"""Exact-number markers for the models' trusted read path, on top of the exact JSON codec.

The codec itself (:func:`decode`, :func:`encode`, :class:`JSONDecodeFailure`, the GC pause) is the
leaf module ``clinikfhir._json``, shared with the sandbox; it is re-exported here for the models.
:func:`decode_marked` and :func:`decode_lazy` decode at orjson speed even when some numbers need
their exact digits, by marking those numbers for the model builder.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from clinikfhir._json import JSONDecodeFailure, decimal_text, decode, encode, gc_paused, lossy_spans

__all__ = [
    "MARK",
    "JSONDecodeFailure",
    "decimal_text",
    "decode",
    "decode_lazy",
    "decode_marked",
    "encode",
    "gc_paused",
]

_MARKER_ESCAPE = b"\\u0000"
# Exact-number markers: a NUL and a per-process random tag, then the number's digits. Received
# data cannot forge the tag, so a marker is never confused with text that was sent.
MARK_TAG = secrets.token_hex(6)
MARK = "\x00" + MARK_TAG
_MARK_OPEN = b'"\\u0000' + MARK_TAG.encode("ascii")


@gc_paused()
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
    spans = lossy_spans(raw)
    if not spans:
        try:
            return orjson.loads(raw), False
        except orjson.JSONDecodeError:
            pass
    elif _markable(raw, spans):
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


def _markable(raw: bytes, spans: list[tuple[int, int]]) -> bool:
    """Whether the numbers at ``spans`` may become markers: the text holds no ``\\u0000`` (one memchr
    usually settles it), and none of them is an integer (one beyond 64 bits: the exact decoder
    reads it as a ``Decimal``, anywhere in the document, as :func:`decode` does)."""
    if b"\\" in raw and _MARKER_ESCAPE in raw:
        return False
    return not any(raw[start:end].lstrip(b"-").isdigit() for start, end in spans)


def decode_lazy(data: str | bytes | bytearray | memoryview) -> Any:
    """Decode a response body for lazy typing, at orjson speed even when decimals need exact digits.

    Like :func:`decode`, except that numbers a float would respell (``1.50``) may be left as
    exact-number marker strings. :func:`clinikfhir.models.parse` reads them as the exact decimals
    they were; pass any other part through :func:`clinikfhir.models.plain` before using it as JSON.
    """
    return decode_marked(data)[0]
