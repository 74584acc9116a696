"""The FHIRPath runtime for invariants compiled by codegen: collections are lists of JSON values.

Only what the R4 invariants use is here; semantics follow FHIRPath N1 (empty propagation, three-valued
logic). A primitive that has only an extension (``_status`` without ``status``) is represented by
:data:`NO_VALUE`: it exists but has no value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any, cast

__all__ = [
    "NO_VALUE",
    "f_all",
    "f_children",
    "f_combine",
    "f_contains_str",
    "f_count",
    "f_descendants",
    "f_distinct",
    "f_empty",
    "f_ends_with",
    "f_exists",
    "f_exists_plain",
    "f_first",
    "f_has_value",
    "f_iif",
    "f_intersect",
    "f_is_distinct",
    "f_is_resource",
    "f_length",
    "f_matches",
    "f_not",
    "f_replace_matches",
    "f_select",
    "f_starts_with",
    "f_substring",
    "f_tail",
    "f_to_integer",
    "f_to_string",
    "f_type_step",
    "f_where",
    "nav",
    "op_and",
    "op_concat",
    "op_contains",
    "op_eq",
    "op_ge",
    "op_gt",
    "op_implies",
    "op_in",
    "op_le",
    "op_lt",
    "op_minus",
    "op_ne",
    "op_or",
    "op_plus",
    "op_union",
    "op_xor",
]

Coll = list[Any]


class _NoValue:
    """A primitive element present only through its extensions."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()


def _add(out: Coll, value: Any) -> None:
    if isinstance(value, list):
        out.extend(v for v in value if v is not None)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    elif value is not None:
        out.append(value)


def nav(coll: Coll, name: str, choice: bool) -> Coll:
    """``coll.name``: children called ``name`` (``name[x]`` choices included when ``choice``)."""
    out: Coll = []
    for item in coll:
        if not isinstance(item, dict):
            continue
        value = item.get(name)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if value is not None:
            if isinstance(value, list):
                if None in value:
                    out.extend(v for v in value if v is not None)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                else:
                    out.extend(value)  # pyright: ignore[reportUnknownArgumentType]
            else:
                out.append(value)
            continue
        ext = item.get("_" + name)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if ext is not None:
            out.extend([NO_VALUE] * (len(ext) if isinstance(ext, list) else 1))  # pyright: ignore[reportUnknownArgumentType]
            continue
        if choice:
            size = len(name)
            for key in item:  # pyright: ignore[reportUnknownVariableType]
                if len(key) > size and key.startswith(name) and key[size].isupper():  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                    _add(out, item[key])
    return out


def f_type_step(coll: Coll, type_name: str) -> Coll:
    """A leading type name (``Appointment.status``) selects the focus when it is of that type."""
    return [i for i in coll if not isinstance(i, dict) or i.get("resourceType", type_name) == type_name]  # pyright: ignore[reportUnknownMemberType]


def _single_bool(coll: Coll) -> bool | None:
    if not coll:
        return None
    if len(coll) == 1 and isinstance(coll[0], bool):
        return coll[0]
    return True  # a non-empty, non-boolean collection is true in a boolean context


def _result(value: bool | None) -> Coll:
    return [] if value is None else [value]


def op_and(a: Coll, b: Coll) -> Coll:
    x, y = _single_bool(a), _single_bool(b)
    if x is False or y is False:
        return [False]
    if x is None or y is None:
        return []
    return [True]


def op_or(a: Coll, b: Coll) -> Coll:
    x, y = _single_bool(a), _single_bool(b)
    if x is True or y is True:
        return [True]
    if x is None or y is None:
        return []
    return [False]


def op_xor(a: Coll, b: Coll) -> Coll:
    x, y = _single_bool(a), _single_bool(b)
    if x is None or y is None:
        return []
    return [x != y]


def op_implies(a: Coll, b: Coll) -> Coll:
    x, y = _single_bool(a), _single_bool(b)
    if x is False:
        return [True]
    if x is True:
        return _result(y)
    return [True] if y is True else []


def f_empty(coll: Coll) -> Coll:
    return [not coll]


def f_exists_plain(coll: Coll) -> Coll:
    return [bool(coll)]


def f_exists(coll: Coll, crit: Callable[[Any], Coll]) -> Coll:
    return [any(_single_bool(crit(i)) is True for i in coll)]


def f_not(coll: Coll) -> Coll:
    x = _single_bool(coll)
    return [] if x is None else [not x]


def f_count(coll: Coll) -> Coll:
    return [len(coll)]


def f_has_value(coll: Coll) -> Coll:
    return [len(coll) == 1 and not isinstance(coll[0], (dict, _NoValue))]


def f_first(coll: Coll) -> Coll:
    return coll[:1]


def f_tail(coll: Coll) -> Coll:
    return coll[1:]


def _key(value: Any) -> Any:
    if isinstance(value, dict):
        return repr(sorted(value.items()))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    if isinstance(value, list):
        return repr(value)  # pyright: ignore[reportUnknownArgumentType]
    return value


def f_is_distinct(coll: Coll) -> Coll:
    return [len({_key(v) for v in coll}) == len(coll)]


def f_distinct(coll: Coll) -> Coll:
    seen: set[Any] = set()
    out: Coll = []
    for v in coll:
        k = _key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def f_where(coll: Coll, crit: Callable[[Any], Coll]) -> Coll:
    return [i for i in coll if _single_bool(crit(i)) is True]


def f_all(coll: Coll, crit: Callable[[Any], Coll]) -> Coll:
    return [all(_single_bool(crit(i)) is True for i in coll)]


def f_select(coll: Coll, expr: Callable[[Any], Coll]) -> Coll:
    out: Coll = []
    for i in coll:
        out.extend(expr(i))
    return out


def f_iif(cond: Coll, yes: Coll, no: Coll) -> Coll:
    return yes if _single_bool(cond) is True else no


def f_is_resource(coll: Coll, type_name: str) -> Coll:
    if len(coll) != 1:
        return []
    item = coll[0]
    return [isinstance(item, dict) and item.get("resourceType") == type_name]  # pyright: ignore[reportUnknownMemberType]


def f_children(coll: Coll) -> Coll:
    out: Coll = []
    for item in coll:
        if isinstance(item, dict):
            for key, value in item.items():  # pyright: ignore[reportUnknownVariableType]
                if key != "resourceType" and not key.startswith("_"):  # pyright: ignore[reportUnknownMemberType]
                    _add(out, value)
    return out


def f_descendants(coll: Coll) -> Coll:
    out: Coll = []
    level = f_children(coll)
    while level:
        out.extend(level)
        level = f_children(level)
    return out


def _string(coll: Coll) -> str | None:
    if len(coll) != 1 or not isinstance(coll[0], str):
        return None
    return coll[0]


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def f_matches(coll: Coll, pattern: Coll) -> Coll:
    s, p = _string(coll), _string(pattern)
    if s is None or p is None:
        return []
    return [_regex(p).search(s) is not None]


def f_replace_matches(coll: Coll, pattern: Coll, sub: Coll) -> Coll:
    s, p, r = _string(coll), _string(pattern), _string(sub)
    if s is None or p is None or r is None:
        return []
    return [_regex(p).sub(r, s)]


def f_starts_with(coll: Coll, prefix: Coll) -> Coll:
    s, p = _string(coll), _string(prefix)
    return [] if s is None or p is None else [s.startswith(p)]


def f_ends_with(coll: Coll, suffix: Coll) -> Coll:
    s, p = _string(coll), _string(suffix)
    return [] if s is None or p is None else [s.endswith(p)]


def f_contains_str(coll: Coll, part: Coll) -> Coll:
    s, p = _string(coll), _string(part)
    return [] if s is None or p is None else [p in s]


def f_substring(coll: Coll, start: Coll, length: Coll | None = None) -> Coll:
    s = _string(coll)
    if s is None or len(start) != 1 or not isinstance(start[0], int):
        return []
    begin: int = start[0]
    if begin < 0 or begin >= len(s):
        return []
    if length:
        return [s[begin : begin + int(length[0])]]
    return [s[begin:]]


def f_length(coll: Coll) -> Coll:
    s = _string(coll)
    return [] if s is None else [len(s)]


def f_to_integer(coll: Coll) -> Coll:
    if len(coll) != 1:
        return []
    v = coll[0]
    if isinstance(v, bool):
        return [int(v)]
    if isinstance(v, int):
        return [v]
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v):
        return [int(v)]
    return []


def f_to_string(coll: Coll) -> Coll:
    if len(coll) != 1 or isinstance(coll[0], (dict, _NoValue)):
        return []
    v = coll[0]
    if isinstance(v, bool):
        return ["true" if v else "false"]
    return [str(v)]


def f_intersect(a: Coll, b: Coll) -> Coll:
    keys = {_key(v) for v in b}
    return f_distinct([v for v in a if _key(v) in keys])


def f_combine(a: Coll, b: Coll) -> Coll:
    return a + b


def op_union(a: Coll, b: Coll) -> Coll:
    return f_distinct(a + b)


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return x is y
    return bool(x == y)


def op_eq(a: Coll, b: Coll) -> Coll:
    if not a or not b:
        return []
    if len(a) != len(b):
        return [False]
    if len(a) == 1:  # the usual case (``status = 'final'``), without a generator
        return [_equal(a[0], b[0])]
    return [all(_equal(x, y) for x, y in zip(a, b, strict=True))]


def op_ne(a: Coll, b: Coll) -> Coll:
    return f_not(op_eq(a, b))


def op_in(a: Coll, b: Coll) -> Coll:
    if not a:
        return []
    if len(a) != 1:
        return []
    return [any(_equal(a[0], y) for y in b)]


def op_contains(a: Coll, b: Coll) -> Coll:
    return op_in(b, a)


def op_concat(a: Coll, b: Coll) -> Coll:
    return [(_string(f_to_string(a)) or "") + (_string(f_to_string(b)) or "")]


def op_plus(a: Coll, b: Coll) -> Coll:
    if len(a) != 1 or len(b) != 1:
        return []
    x, y = a[0], b[0]
    if isinstance(x, str) and isinstance(y, str):
        return [x + y]
    if _is_number(x) and _is_number(y):
        return [x + y]
    return []


def op_minus(a: Coll, b: Coll) -> Coll:
    if len(a) != 1 or len(b) != 1 or not _is_number(a[0]) or not _is_number(b[0]):
        return []
    return [a[0] - b[0]]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


_FIRST_SECOND = date.min.toordinal() * 86400
_LAST_SECOND = date.max.toordinal() * 86400 + 86399


def _datetime_parts(s: str) -> tuple[tuple[int, ...], int | None] | None:
    """A date/dateTime/instant as its precision-limited fields, and, when it has a time and a zone,
    as a UTC instant (microseconds from the start of year 1, proleptic Gregorian: the order of
    datetimes, with their range and field checks, at a fraction of their cost)."""
    m = _DATETIME.fullmatch(s)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, tz = m.groups()
    if tz is None:  # no time, or a time without a zone: no instant
        return tuple(int(g) for g in (year, month, day, hour, minute, second) if g is not None), None
    # a zone comes with a time (the pattern), so year to minute are all there
    y, mo, d, h, mi = int(year), int(month), int(day), int(hour), int(minute)
    sec = int(second) if second is not None else 0
    parts = (y, mo, d, h, mi, sec) if second is not None else (y, mo, d, h, mi)
    if h > 23 or mi > 59:
        raise ValueError("hour or minute out of range")
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    seconds = date(y, mo, d).toordinal() * 86400 + h * 3600 + mi * 60 + min(sec, 59)
    if tz != "Z":
        offset = int(tz[1:3]) * 3600 + int(tz[4:6]) * 60
        seconds -= offset if tz[0] == "+" else -offset
        if seconds < _FIRST_SECOND or seconds > _LAST_SECOND:
            raise OverflowError("date value out of range")
    return parts, seconds * 1_000_000 + micro


def _compare(a: Coll, b: Coll) -> int | None:
    """-1, 0 or 1; None when the comparison is empty (missing operands, mixed precision, no order)."""
    if len(a) != 1 or len(b) != 1:
        return None
    x, y = a[0], b[0]
    if _is_number(x) and _is_number(y):
        return int(x > y) - int(x < y)
    if isinstance(x, dict) and isinstance(y, dict):  # Quantities: comparable when their units agree
        qx, qy = cast(dict[str, Any], x), cast(dict[str, Any], y)
        if qx.get("code", qx.get("unit")) != qy.get("code", qy.get("unit")):
            return None
        return _compare([qx["value"]] if "value" in qx else [], [qy["value"]] if "value" in qy else [])
    if isinstance(x, str) and isinstance(y, str):
        px, py = _datetime_parts(x), _datetime_parts(y)
        if px is None or py is None:
            return (x > y) - (x < y)
        if px[1] is not None and py[1] is not None:
            return (px[1] > py[1]) - (px[1] < py[1])
        common = min(len(px[0]), len(py[0]), 3 if (px[1] is None) != (py[1] is None) else 6)
        fx, fy = px[0][:common], py[0][:common]
        if fx != fy:
            return (fx > fy) - (fx < fy)
        return 0 if len(px[0]) == len(py[0]) else None
    return None


def op_lt(a: Coll, b: Coll) -> Coll:
    c = _compare(a, b)
    return [] if c is None else [c < 0]


def op_le(a: Coll, b: Coll) -> Coll:
    c = _compare(a, b)
    return [] if c is None else [c <= 0]


def op_gt(a: Coll, b: Coll) -> Coll:
    c = _compare(a, b)
    return [] if c is None else [c > 0]


def op_ge(a: Coll, b: Coll) -> Coll:
    c = _compare(a, b)
    return [] if c is None else [c >= 0]
