"""R4 primitive types: their JSON representation and lexical format, checked without coercion.

The regular expressions are those of the FHIR R4 (4.0.1) datatypes page
(http://hl7.org/fhir/R4/datatypes.html); the vendored StructureDefinition extract does not carry them.
JSON types are strict: ``"yes"`` is not a boolean, ``"1"`` is not an integer, ``true`` is not a number.
Messages name the rule, never the value.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"

_PATTERNS: dict[str, re.Pattern[str]] = {
    # ASCII: as in the spec's (Java) regexes, \\s and \\S know only ASCII whitespace, so a no-break
    # space is content
    name: re.compile(pattern, re.ASCII)
    for name, pattern in {
        "code": r"[^\s]+( [^\s]+)*",
        "date": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?",
        "dateTime": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T" + _TIME + _TZ + r")?)?)?",
        "id": r"[A-Za-z0-9\-\.]{1,64}",
        "instant": _YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T" + _TIME + _TZ,
        "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
        "time": _TIME,
        "uri": r"\S*",
        "url": r"\S*",
        "canonical": r"\S*",
        "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "string": r"[ \r\n\t\S]+",
        "markdown": r"[\s\S]+",
    }.items()
}
_INT32 = (-(2**31), 2**31 - 1)
_DATED = frozenset({"date", "dateTime", "instant"})
_STRING_TYPES = frozenset({*_PATTERNS, "xhtml", "base64Binary"})


def _integer(value: Any, low: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a JSON integer"
    if value < low or value > _INT32[1]:
        return "integer is out of range" if low == _INT32[0] else f"must be an integer of at least {low}"
    return None


_NUMERIC: dict[str, Callable[[Any], str | None]] = {
    "integer": lambda v: _integer(v, _INT32[0]),
    "unsignedInt": lambda v: _integer(v, 0),
    "positiveInt": lambda v: _integer(v, 1),
}


_WHITESPACE = re.compile(r"[ \t\r\n]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _check_base64(value: str) -> tuple[str, str] | None:
    """base64 in linear time (the spec's regex backtracks badly on large attachments, and omits ``/``)."""
    compact = _WHITESPACE.sub("", value)
    if len(compact) % 4 or _BASE64.fullmatch(compact) is None:
        return ("format", "is not valid base64")
    return None


def _real_day(value: str) -> bool:
    """Whether the ``YYYY-MM-DD`` a date, dateTime or instant starts with is a day of the calendar
    ("dates SHALL be valid dates"): the patterns allow 31 days in every month. The pattern has
    already checked the shape, so the slices are digits; leap years are the Gregorian ones."""
    if value[8:10] <= "28":  # every month has 28 days (the pattern has checked they are digits)
        return True
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    return day <= calendar.monthrange(year, month)[1]


def check_primitive(type_code: str, value: Any) -> tuple[str, str] | None:
    """``(rule key, message)`` saying why ``value`` is not a valid JSON ``type_code`` value of R4.

    None when it is valid. Keys: ``type`` (wrong JSON type), ``format`` (lexical form or range),
    ``id`` (an id that is not 1-64 characters of ``A-Za-z0-9-.``).
    """
    if type_code == "boolean":
        return None if isinstance(value, bool) else ("type", "must be a JSON boolean (true or false)")
    if type_code == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return ("type", "must be a JSON number")
        return None
    numeric = _NUMERIC.get(type_code)
    if numeric is not None:
        problem = numeric(value)
        if problem is None:
            return None
        return ("type" if "JSON" in problem else "format", problem)
    if type_code in _STRING_TYPES:
        if not isinstance(value, str):
            return ("type", f"must be a JSON string ({type_code})")
        if not value:
            return ("format", "must not be empty")
        if type_code == "base64Binary":
            return _check_base64(value)
        pattern = _PATTERNS.get(type_code)
        if pattern is not None and pattern.fullmatch(value) is None:
            if type_code == "id":
                return ("id", "id must be 1-64 characters of A-Z a-z 0-9 - .")
            return ("format", f"is not a valid {type_code}")
        if type_code in _DATED and len(value) >= 10 and not _real_day(value):
            return ("format", f"is not a valid {type_code}: no such day in that month")
        return None
    return None  # pragma: no cover - every primitive type code of R4 is listed above


_REMEMBERED = 1024  # valid values remembered per type
_REMEMBERED_LENGTH = 64  # longer values are checked each time
# the types whose values repeat across resources (code systems, codes, units, profiles) and are not
# patient data: only these are remembered (ids and dates are neither)
_REMEMBERED_TYPES = frozenset({"code", "uri", "url", "canonical"})


@cache
def primitive_ok(type_code: str) -> Callable[[Any], bool]:
    """A predicate saying whether a value is a valid JSON ``type_code`` value of R4: exactly
    ``check_primitive(type_code, value) is None``, without building the reason (the validator's
    fast pass over resources that are clean). One per type. Short valid codes and URIs are
    remembered (the answer is a function of the string alone), so a repeated code system, code or
    unit is not matched again."""
    if type_code == "string":  # [ \r\n\t\S]+ (ASCII): every character but form feed and vertical tab
        return lambda value: isinstance(value, str) and value != "" and "\x0b" not in value and "\x0c" not in value
    if type_code == "markdown":  # [\s\S]+
        return lambda value: isinstance(value, str) and value != ""
    pattern = _PATTERNS.get(type_code)
    if pattern is None or type_code == "base64Binary":
        return lambda value: check_primitive(type_code, value) is None
    fullmatch = pattern.fullmatch
    if type_code in _DATED:
        return lambda value: (
            isinstance(value, str)
            and value != ""
            and fullmatch(value) is not None
            and (len(value) < 10 or value[8:10] <= "28" or _real_day(value))
        )
    if type_code not in _REMEMBERED_TYPES:
        return lambda value: isinstance(value, str) and value != "" and fullmatch(value) is not None
    known: set[str] = set()

    def ok(value: Any) -> bool:
        if value.__class__ is str and value in known:
            return True
        if not isinstance(value, str) or value == "" or fullmatch(value) is None:
            return False
        if len(value) <= _REMEMBERED_LENGTH and len(known) < _REMEMBERED:
            known.add(value)
        return True

    return ok


_SCRIPT = re.compile(r"<\s*(script|object|applet|embed|iframe|form|input|frame|frameset)\b", re.IGNORECASE)
_EVENT_ATTR = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def check_xhtml(div: str) -> list[str]:
    """txt-1 (the narrative is a well-formed xhtml ``div`` with only basic html, no active content) and
    txt-2 (it has some non-whitespace content): the problems found, without quoting the narrative."""
    problems: list[str] = []
    head = div.strip()
    if not head.startswith("<div") or not head.endswith(("</div>", "/>")):
        problems.append("the narrative must be a single xhtml <div> element")
    elif "http://www.w3.org/1999/xhtml" not in head[: head.find(">") + 1]:
        problems.append("the narrative <div> must declare the xhtml namespace")
    if _SCRIPT.search(div) or _EVENT_ATTR.search(div):
        problems.append("the narrative must not contain active content (scripts, forms, event handlers)")
    return problems
