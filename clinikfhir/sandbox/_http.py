"""The sandbox's transport-neutral request/response types, its API error and the error envelope.

Both front ends (the ASGI app and the httpx transports) turn their input into a :class:`Request`
and send back the :class:`Response` the gateway produced, so there is one request handler.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import orjson

from clinikfhir._json import DIGITS_AS_ZERO, decode, decode_telling, encode

FHIR_JSON = "application/fhir+json"
PLAIN_JSON = "application/json"

_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Validation Error",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

REASONS: dict[int, str] = {
    200: "OK",
    201: "Created",
    204: "No Content",
    **_TITLES,
}
REASONS[422] = "Unprocessable Entity"


@dataclass(slots=True)
class Request:
    """One HTTP request as the gateway sees it (headers lower-cased, path still percent-encoded).

    ``host`` and ``scheme`` are informational: links are built on the configured public base URL."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    loopback: bool = True
    host: str = "localhost"
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """The header's value (names are case-insensitive), or None."""
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Response:
    """The gateway's answer. ``delay`` and ``drop`` are fault-injection directives for the front end:
    wait that many seconds before answering; break the connection instead of answering."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=lambda: [])
    body: bytes = b""
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True, slots=True)
class ErrorIssue:
    """One issue of an error envelope: an element path or parameter name, never a value."""

    severity: str
    code: str
    diagnostics: str
    expression: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = [self.expression]
        return out


class GatewayError(Exception):
    """A request failure the gateway reports with the documented envelope (the sandbox's side; the
    client raises its own :class:`clinikfhir.GatewayError` on receiving one).

    ``message`` must never contain a key, an id from the request or any resource value.
    ``fhir`` marks errors arising from FHIR content (they also carry ``resourceType``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        issues: list[dict[str, Any]] | None = None,
        fhir: bool = False,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.issues = issues
        self.fhir = fhir or bool(issues)
        self.headers = headers or []


def issue_error(
    status: int, code: str, message: str, *, issue_code: str, expression: str | None = None
) -> GatewayError:
    """An error whose single FHIR issue repeats the message (and the element path or parameter)."""
    return GatewayError(
        status, code, message, issues=[ErrorIssue("error", issue_code, message, expression).as_json()], fhir=True
    )


def new_request_id() -> str:
    """``req_`` plus 12 random lowercase alphanumerics."""
    return "req_" + base64.b32encode(os.urandom(10)).decode("ascii").lower()[:12]


def now_utc() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def iso_instant(moment: _dt.datetime) -> str:
    """The store's instant format: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text)."""
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(err: GatewayError, request_id: str) -> bytes:
    """The §8 envelope: error, code, message, requestId; issues mirrored as ``issue`` when present."""
    out: dict[str, Any] = {}
    if err.fhir:
        out["resourceType"] = "OperationOutcome"
    out["error"] = _TITLES.get(err.status, "Error")
    out["code"] = err.code
    out["message"] = err.message
    out["requestId"] = request_id
    if err.issues:
        out["issues"] = err.issues
        out["issue"] = err.issues
    return orjson.dumps(out)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes; ``Decimal`` keeps its exact digits (``1.50`` stays ``1.50``)."""
    return encode(obj)


def loads_exact(body: bytes | str) -> Any:
    """Parse JSON keeping every number's digits (``Decimal`` where a float would respell it).

    Raises ValueError on malformed input (the message carries a position, never content)."""
    return decode(body)


MAX_JSON_DEPTH = 100
"""The deepest nesting of objects and arrays a request body (or a patched resource) may have."""
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
# a number token (after the start, ``:``, ``,`` or ``[``, and before the end, ``,``, ``]`` or ``}``) that
# may be out of a double's range: 200+ digits before or after the point, or an exponent of 3+ digits
# (below both, |x| stays within 1e199 * 1e99 and 1e-200 * 1e-99, well inside a double's range)
# (a uuid's "urn:uuid:3e2434e3-..." in a string does not count, so most bodies skip the walk)
_BIG_NUMBER = re.compile(
    rb"(?:^|[:,\[])\s*-?(?:"
    rb"[0-9]{200,}(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"  # a long integer part
    rb"|[0-9]+\.[0-9]{200,}(?:[eE][+-]?[0-9]+)?"  # a long fraction
    rb"|[0-9]+(?:\.[0-9]+)?[eE][+-]?0*[0-9]{3,}"  # a long exponent
    rb")(?=\s*(?:[,\]}]|$))"
)
_MAX_DOUBLE = Decimal("1.7976931348623157e308")
# Fast paths of _BIG_NUMBER.search (the same answer, property-tested): its first two forms hold a run of
# 200 digits (found by a byte translation and a substring test); its third a digit, an e, optional sign
# and zeros and 3 digits (a cheap literal-led search), whose number token is then located by walking
# back over the mantissa, a minus sign and spaces to the separator, where _BIG_NUMBER is tried once.
_DIGIT_RUN = b"0" * 200
# (each search starts with a literal letter, which ``re`` finds with a fast scan; a digit must precede it)
_EXPONENT_HINTS = (
    (b"e", re.compile(rb"e[+-]?0*[0-9]{3}")),
    (b"E", re.compile(rb"E[+-]?0*[0-9]{3}")),
)
_DIGITS = frozenset(b"0123456789")
_MANTISSA = frozenset(b"0123456789.")
_SPACES = frozenset(b" \t\n\r\f\v")


def big_number(raw: bytes) -> bool:
    """Whether ``raw`` holds a number token that may be out of a double's range (``_BIG_NUMBER``)."""
    if _DIGIT_RUN in raw.translate(DIGITS_AS_ZERO):
        return _BIG_NUMBER.search(raw) is not None
    for letter, hints in _EXPONENT_HINTS:
        if letter not in raw:
            continue
        for hint in hints.finditer(raw):
            i = hint.start()
            if i == 0 or raw[i - 1] not in _DIGITS:
                continue
            while i > 0 and raw[i - 1] in _MANTISSA:
                i -= 1
            if i > 0 and raw[i - 1] == 0x2D:  # "-"
                i -= 1
            while i > 0 and raw[i - 1] in _SPACES:
                i -= 1
            if _BIG_NUMBER.match(raw, max(i - 1, 0)) is not None:
                return True
    return False


def parse_body(raw: bytes) -> Any:
    """A request body as JSON within the sandbox's bounds, else 400 INVALID_JSON naming where.

    Bounds: nesting at most :data:`MAX_JSON_DEPTH` deep, strings of valid Unicode (no lone surrogate
    such as ``"\\ud800"``), numbers within the range of a double (``1e999999`` is refused)."""
    try:
        value, floats = decode_telling(raw)  # floats: orjson's numbers, no Decimal
    except ValueError as exc:
        raise GatewayError(400, "INVALID_JSON", f"The request body is not valid JSON ({exc})") from None
    # cheap scans of the bytes first: most bodies cannot break any bound, and are not walked (the walk
    # that names the path runs only when something may be wrong). The scans read UTF-8; JSON in
    # UTF-16 or UTF-32 (which the exact decoder also accepts) is always walked.
    if raw[:1] in _NOT_UTF8_START or b"\0" in raw[:4]:
        check_json(value)
        return value
    # numbers decoded by orjson are ints and finite floats (it refuses what would be infinite), which
    # no bound refuses: only the exact decoder's Decimals need the number scan
    suspect = _SURROGATE.search(raw) or (not floats and big_number(raw))
    if suspect or (raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and nests_deeper(raw, MAX_JSON_DEPTH)):
        check_json(value)
    return value


_NOT_UTF8_START = (b"\xfe", b"\xff")  # the first byte of a UTF-16 byte order mark
# a translation keeping the quote and the brackets only, braces turned into square brackets (the
# nesting of a valid text is then that of its square brackets alone)
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def nests_deeper(raw: bytes, limit: int) -> bool:
    """True when the UTF-8 JSON text ``raw`` (valid JSON) nests objects and arrays deeper than
    ``limit`` levels, read from the bytes: the same answer as a walk of its decoded value, level by
    level (the root's object or array is level 1).

    Escaped backslashes and quotes go first (in a valid text only strings hold backslashes, and a run
    of them pairs up from its start), then every byte but quotes and brackets, braces becoming square
    brackets. What is left is the strings, as quotes around the brackets they hold, between the
    brackets of the structure. When each string holds none (so removing every ``""`` leaves no
    quote), the rest is the structure; else it is what lies outside the quotes. Each pass then
    removes every ``[]`` present before it, the containers holding no container: a text nesting ``n``
    levels deep is empty after exactly ``n`` passes."""
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in raw else raw
    reduced = text.translate(_SQUARE, _NOT_STRUCTURE)
    brackets = reduced.replace(b'""', b"")
    if b'"' in brackets:  # a string holds a bracket
        brackets = b"".join(reduced.split(b'"')[::2])
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _json_error(message: str, path: str) -> GatewayError:
    where = path if len(path) <= 200 else path[:197] + "..."
    return GatewayError(
        400,
        "INVALID_JSON",
        f"{message} at {where}",
        issues=[ErrorIssue("error", "structure", message, where).as_json()],
        fhir=True,
    )


def check_json(value: object) -> None:
    """Raise 400 INVALID_JSON (with the element path) when ``value`` breaks a bound of :func:`parse_body`."""
    root = "$"
    top = obj(value)
    if top is not None and isinstance(top.get("resourceType"), str):
        root = str(top["resourceType"])[:64]
    stack: list[tuple[object, str, int]] = [(value, root, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                raise _json_error(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels", path)
            for key, child in cast("dict[str, object]", item).items():
                if not _valid_text(key):
                    raise _json_error("A property name is not valid Unicode (a lone surrogate)", path)
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                raise _json_error(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels", path)
            for i, child in enumerate(cast("list[object]", item)):
                stack.append((child, f"{path}[{i}]", depth + 1))
        elif isinstance(item, str):
            if not _valid_text(item):
                raise _json_error("A string is not valid Unicode (a lone surrogate)", path)
        elif isinstance(item, Decimal):
            if not item.is_finite() or abs(item) > _MAX_DOUBLE or (item != 0 and float(item) == 0.0):
                raise _json_error("A number is out of range", path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _json_error("A number is out of range", path)


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def obj(value: object) -> dict[str, Any] | None:
    """``value`` as a JSON object, or None when it is something else."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def arr(value: object) -> list[Any] | None:
    """``value`` as a JSON array, or None when it is something else."""
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return items
    return None
