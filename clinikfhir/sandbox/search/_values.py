"""Value conversions shared by indexing and matching: string normalisation, date and number ranges."""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

# Dates are stored as integer microseconds since 1970-01-01T00:00:00Z; open ends use these bounds.
MIN_TIME = -(2**62)
MAX_TIME = 2**62
MIN_NUMBER = -1e300
MAX_NUMBER = 1e300

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def normalise(text: str) -> str:
    """Case- and accent-insensitive form of a string: NFKD, combining marks dropped, casefolded,
    whitespace collapsed."""
    if text.isascii():  # NFKD leaves ASCII alone, it has no combining marks, and casefold is lower
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@functools.lru_cache(maxsize=4096)  # resources of one Bundle repeat their dates (an encounter's start...)
def date_range(text: str) -> tuple[int, int] | None:
    """The half-open range [low, high) in UTC microseconds that a FHIR date/dateTime/instant covers
    at its precision; None when the text is not a date. A time without zone is taken as UTC."""
    match = _DATE_RE.match(text.strip())
    if match is None:
        return None
    g = match.groupdict()
    try:
        year = int(g["y"])
        if g["m"] is None:
            low = datetime(year, 1, 1, tzinfo=UTC)
            high = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else None
            return _pair(low, high)
        month = int(g["m"])
        if g["d"] is None:
            low = datetime(year, month, 1, tzinfo=UTC)
            days = calendar.monthrange(year, month)[1]
            return _pair(low, low + timedelta(days=days))
        day = int(g["d"])
        if g["H"] is None:
            low = datetime(year, month, day, tzinfo=UTC)
            return _pair(low, low + timedelta(days=1))
        hour, minute = int(g["H"]), int(g["M"])
        second = int(g["S"]) if g["S"] is not None else 0
        frac = g["f"] or ""
        micro = int((frac + "000000")[:6]) if frac else 0
        if hour == 24 and minute == 0 and second == 0:
            base = datetime(year, month, day, tzinfo=UTC) + timedelta(days=1)
        else:
            base = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        tz = g["tz"]
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            base -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        if g["S"] is None:
            step = timedelta(minutes=1)
        elif not frac:
            step = timedelta(seconds=1)
        else:
            step = timedelta(microseconds=max(1, 10 ** max(0, 6 - len(frac))))
        return _pair(base, base + step)
    except (ValueError, OverflowError):
        return None


def _pair(low: datetime, high: datetime | None) -> tuple[int, int]:
    return _micros(low), (_micros(high) if high is not None else MAX_TIME)


def micros_to_instant(value: int) -> str:
    """Render UTC microseconds as an instant (used by tests and diagnostics)."""
    moment = _EPOCH + timedelta(microseconds=value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decimal_value(value: object) -> Decimal | None:
    """A Decimal for a JSON number or numeric text; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None


def precision_range(value: Decimal) -> tuple[float, float]:
    """The implicit range of a search number at its precision: ``100`` is [99.5, 100.5),
    ``1.50`` is [1.495, 1.505), ``1e2`` is [50, 150)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return float(value - half), float(value + half)
