"""FHIR primitive values that remember the exact JSON text they were read from.

fhir.resources stores ``dateTime``/``instant`` as :class:`datetime.datetime`, ``date`` as
:class:`datetime.date`, ``time`` as :class:`datetime.time` and ``base64Binary`` as decoded
:class:`bytes`; converting back loses the original spelling (``Z`` becomes ``+00:00``, ``.120``
becomes ``.120000``, line breaks in base64 vanish). The subclasses here are equal to (and usable
as) the plain values, and carry the received text in ``fhir_text`` so that
:func:`clinikfhir.models.dump` writes back exactly what was read. Decimals need no subclass:
:class:`decimal.Decimal` keeps its digits (``Decimal("1.50")``).

Each converter takes the JSON value and returns the model value, raising :class:`ValueError`
(never echoing the value) when it does not have the FHIR shape.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal
import re
from typing import Any

from fhir_core.types import Date as _FhirDate
from fhir_core.types import DateTime as _FhirDateTime
from fhir_core.types import Instant as _FhirInstant
from fhir_core.types import Time as _FhirTime

_DATE_RE = _FhirDate.pattern
_DATETIME_RE = _FhirDateTime.pattern
_INSTANT_RE = _FhirInstant.pattern
_TIME_RE = _FhirTime.pattern
_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# The common full shapes, cheaper to match than FHIR's patterns; every value they accept that
# FHIR's pattern would refuse (month 13, hour 24, year 0000) is refused by ``fromisoformat``,
# and anything else takes the full FHIR pattern.
_FULL_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FULL_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](?:\.[0-9]+)?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)"
)


class FhirDateTime(_dt.datetime):
    """A ``dateTime``/``instant`` value that keeps its JSON text (``fhir_text``)."""

    __slots__ = ("fhir_text",)
    fhir_text: str

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return _reduce(self, protocol)


class FhirDate(_dt.date):
    """A full ``date`` (or date-only ``dateTime``) value that keeps its JSON text (``fhir_text``)."""

    __slots__ = ("fhir_text",)
    fhir_text: str

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return _reduce(self, protocol)


class FhirTime(_dt.time):
    """A ``time`` value that keeps its JSON text (``fhir_text``)."""

    __slots__ = ("fhir_text",)
    fhir_text: str

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return _reduce(self, protocol)


class FhirBase64(bytes):
    """Decoded ``base64Binary`` content that keeps its JSON text (``fhir_text``)."""

    fhir_text: str

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return (_base64_from_text, (self.fhir_text,))


def with_text(value: Any, text: str) -> Any:
    """``value`` (a plain datetime, date or time) as the subclass that keeps ``text``; else unchanged."""
    cls = value.__class__
    out: FhirDateTime | FhirDate | FhirTime
    if cls is _dt.datetime or cls is FhirDateTime:
        out = FhirDateTime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.tzinfo,
            fold=value.fold,
        )
    elif cls is _dt.date or cls is FhirDate:
        out = FhirDate(value.year, value.month, value.day)
    elif cls is _dt.time or cls is FhirTime:
        out = FhirTime(value.hour, value.minute, value.second, value.microsecond, value.tzinfo, fold=value.fold)
    else:
        return value
    out.fhir_text = text
    return out


def _plain(value: _dt.date | _dt.time) -> _dt.date | _dt.time:
    """The same value as a plain datetime, date or time (the standard library's classes)."""
    if isinstance(value, _dt.datetime):
        return _dt.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.tzinfo,
            fold=value.fold,
        )
    if isinstance(value, _dt.date):
        return _dt.date(value.year, value.month, value.day)
    return _dt.time(value.hour, value.minute, value.second, value.microsecond, value.tzinfo, fold=value.fold)


def _reduce(value: FhirDateTime | FhirDate | FhirTime, protocol: object) -> tuple[Any, ...]:
    """Pickle and copy as (plain value, text); a value made by arithmetic or ``replace()`` has no text."""
    text: str | None = getattr(value, "fhir_text", None)
    if text is None:
        return (_plain, (_plain(value),))
    return (with_text, (_plain(value), text))


def _datetime_from_text(text: str) -> FhirDateTime:
    value = FhirDateTime.fromisoformat(text)
    value.fhir_text = text
    return value


def _date_from_text(text: str) -> FhirDate:
    value = FhirDate.fromisoformat(text)
    value.fhir_text = text
    return value


def _time_from_text(text: str) -> FhirTime:
    value = FhirTime.fromisoformat(text)
    value.fhir_text = text
    return value


def _base64_from_text(text: str) -> FhirBase64:
    value = FhirBase64(base64.b64decode(text, validate=False))
    value.fhir_text = text
    return value


def _leap_second(text: str) -> bool:
    return ":60" in text


def to_date(value: Any) -> Any:
    """``date``: ``YYYY`` and ``YYYY-MM`` stay text (as in fhir.resources); full dates keep their text."""
    if type(value) is str and _FULL_DATE_RE.fullmatch(value):
        try:
            return _date_from_text(value)
        except ValueError:  # out of range (month 13, 30 February): never echo the value
            raise ValueError("not a FHIR date") from None
    if type(value) is not str or not _DATE_RE.fullmatch(value):
        raise ValueError("not a FHIR date")
    if len(value) < 10:
        return value
    return _date_from_text(value)


def to_datetime(value: Any) -> Any:
    """``dateTime``: partial dates and leap seconds stay text; others keep their text."""
    if type(value) is str and _FULL_DATETIME_RE.fullmatch(value):
        try:
            return _datetime_from_text(value)
        except ValueError:  # out of range (month 13, 30 February): never echo the value
            raise ValueError("not a FHIR dateTime") from None
    if type(value) is not str or not _DATETIME_RE.fullmatch(value):
        raise ValueError("not a FHIR dateTime")
    n = len(value)
    if n < 10 or _leap_second(value):
        return value
    if n == 10:
        return _date_from_text(value)
    return _datetime_from_text(value)


def to_instant(value: Any) -> Any:
    """``instant``: always a zoned date-time; a leap second stays text."""
    if type(value) is str and _FULL_DATETIME_RE.fullmatch(value):
        try:
            return _datetime_from_text(value)
        except ValueError:  # out of range (month 13, 30 February): never echo the value
            raise ValueError("not a FHIR instant") from None
    if type(value) is not str or not _INSTANT_RE.fullmatch(value):
        raise ValueError("not a FHIR instant")
    if _leap_second(value):
        return value
    return _datetime_from_text(value)


def to_time(value: Any) -> Any:
    """``time``: ``hh:mm:ss[.fff]``; a leap second stays text."""
    if type(value) is not str or not _TIME_RE.fullmatch(value):
        raise ValueError("not a FHIR time")
    if value[6:8] == "60":
        return value
    return _time_from_text(value)


def to_decimal(value: Any) -> decimal.Decimal:
    """``decimal`` from a JSON number: a float is taken at its shortest exact text, as pydantic does."""
    if type(value) is decimal.Decimal:
        if not value.is_finite():
            raise ValueError("not a finite decimal")
        return value
    if type(value) is float:
        text = repr(value)
        if not _DECIMAL_RE.fullmatch(text):  # nan, inf
            raise ValueError("not a finite decimal")
        return decimal.Decimal(text)
    if type(value) is int:
        return decimal.Decimal(value)
    raise ValueError("not a JSON number")


def to_base64(value: Any) -> FhirBase64:
    """``base64Binary``: decoded bytes that keep the received text."""
    if type(value) is not str:
        raise ValueError("not base64 text")
    try:
        return _base64_from_text(value)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def text_of(value: Any) -> Any:
    """The JSON value of a primitive model value: its received text when known, else FHIR's form."""
    text = getattr(value, "fhir_text", None)
    if text is not None:
        return text
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None and not value.time():  # a date-only dateTime held as midnight
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
