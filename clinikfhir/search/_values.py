"""Search values as FHIR writes them: escaping (``\\ , | $``), number/date/token/quantity rendering.

FHIR R4 §3.1.1.1.9 (search, "Escaping search parameters"): in a value, ``\\`` escapes ``,`` (OR
separator), ``|`` (token/quantity separator) and ``$`` (composite separator), and itself. Every
value part passed by a caller goes through :func:`escape`; :func:`split_unescaped` and
:func:`unescape` are the spec's reading side (used by tests and usable by servers).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import NamedTuple

from clinikfhir import _syntax
from clinikfhir.errors import InvalidArgumentError

Number = int | float | Decimal
"""A number search value. ``Decimal`` keeps its digits (``Decimal("1.50")`` -> ``1.50``)."""

DateValue = dt.date | dt.datetime | str
"""A date search value: ``date`` (day precision), ``datetime`` (with its zone) or a FHIR date string."""

TokenValue = str | tuple[str | None, str | None]
"""A token, in either of two spellings that mean the same:

- a string as written on the wire: ``"code"`` (any system), ``"system|code"``, ``"|code"`` (no
  system), ``"system|"`` (any code in the system). An unescaped ``|`` separates system and code;
  a ``|``, ``,``, ``$`` or ``\\`` that belongs to the data is written ``\\|``, ``\\,``, ``\\$``,
  ``\\\\`` (unescaped ``,`` and ``$`` are data too, never an OR or a composite separator);
- a tuple of the parts as they are, nothing escaped: ``(system, code)``, ``(None, code)``,
  ``(system, None)``.

``"http://loinc.org|8867-4"`` and ``("http://loinc.org", "8867-4")`` both send
``http://loinc.org|8867-4``; a code ``a|b`` is ``"http://x|a\\|b"`` or ``("http://x", "a|b")``.
A string with two unescaped ``|`` is refused (it names no system|code)."""

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
"""The comparison prefixes of number, date and quantity parameters."""

# Escaping has one definition, in the leaf :mod:`clinikfhir._syntax` (shared with the sandbox);
# here its errors become the client's InvalidArgumentError.


def escape(text: str) -> str:
    """Escape one value part: ``a,b`` -> ``a\\,b`` so a comma stays data, not an OR."""
    try:
        return _syntax.escape(text)
    except _syntax.SearchSyntaxError as err:
        raise InvalidArgumentError(str(err)) from None


def split_unescaped(text: str, separator: str, *, strict: bool = True) -> list[str]:
    """Split on ``separator`` where it is not escaped (parts stay escaped); see
    :func:`clinikfhir._syntax.split_unescaped`. Raises :class:`InvalidArgumentError` on an illegal
    escape (without echoing the value)."""
    try:
        return _syntax.split_unescaped(text, separator, strict=strict)
    except _syntax.SearchSyntaxError as err:
        raise InvalidArgumentError(str(err)) from None


def unescape(text: str, *, strict: bool = True) -> str:
    """Undo :func:`escape`; see :func:`clinikfhir._syntax.unescape`. Raises
    :class:`InvalidArgumentError` on an illegal escape (without echoing the value)."""
    try:
        return _syntax.unescape(text, strict=strict)
    except _syntax.SearchSyntaxError as err:
        raise InvalidArgumentError(str(err)) from None


def format_number(value: Number, where: str) -> str:
    """Render a number exactly: ints as is, floats shortest-repr, Decimals with all their digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidArgumentError(f"{where}: expected a number (int, float or Decimal), got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{where}: a search number must be finite")
        return repr(value)
    if not value.is_finite():
        raise InvalidArgumentError(f"{where}: a search number must be finite")
    return str(value)


_DATE_RE = re.compile(
    r"-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)(\.[0-9]+)?)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?)?)?"
)


def format_date(value: DateValue, where: str) -> str:
    """Render a date at its precision: ``date`` -> ``2024-01-31``; ``datetime`` with seconds (and
    fractions when present) and its zone (``Z`` for UTC); strings are checked. A naive ``datetime``
    names no instant (which zone?) and is refused: pass an aware one or a ``date``."""
    if isinstance(value, dt.datetime):
        offset = value.utcoffset()
        if offset is None:
            raise InvalidArgumentError(
                f"{where}: the datetime has no time zone, so it names no instant; pass an aware datetime "
                "(e.g. datetime(2024, 1, 31, 10, 0, tzinfo=UTC)) or a date"
            )
        text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
        if offset == dt.timedelta(0):
            text = text[: -len("+00:00")] + "Z"
        return text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        if not _DATE_RE.fullmatch(value):
            raise InvalidArgumentError(
                f"{where}: not a FHIR date/dateTime (expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][zone])"
            )
        return value
    raise InvalidArgumentError(f"{where}: expected a date, datetime or FHIR date string, got {type(value).__name__}")


def format_token(value: TokenValue, where: str) -> str:
    """Render a token: ``code``, ``system|code``, ``|code`` or ``system|`` (see :data:`TokenValue`)."""
    if isinstance(value, str):
        return _token_string(value, where)
    if isinstance(value, tuple) and len(value) == 2:  # pyright: ignore[reportUnnecessaryIsInstance]
        system, code = value
        if system is None and code is None:
            raise InvalidArgumentError(f"{where}: a token needs a system or a code")
        return f"{escape(system or '')}|{escape(code or '')}"
    raise InvalidArgumentError(f"{where}: expected a code string or a (system, code) pair")


def _token_string(value: str, where: str) -> str:
    # The wire spelling: an unescaped "|" is the system|code separator (as fhirpy, Medplum and the
    # spec write it), so it is never escaped into data. Escapes are read strictly and re-written, so
    # "a\\|b" stays one code and an unescaped "," or "$" becomes data (escaped), never an OR.
    try:
        parts = [unescape(part) for part in split_unescaped(value, "|")]
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{where}: {exc}") from None
    if len(parts) == 1:
        return escape(parts[0])
    if len(parts) > 2:
        raise InvalidArgumentError(
            f"{where}: a token string has one unescaped '|' at most (system|code), this one has {len(parts) - 1}; "
            "write \"system|code\" with a '|' inside the code escaped as '\\|' "
            '(e.g. "http://x|a\\|b"), or pass the parts as a tuple: ("http://x", "a|b")'
        )
    system, code = parts
    if not system and not code:
        raise InvalidArgumentError(f"{where}: a token needs a system or a code")
    return f"{escape(system)}|{escape(code)}"


class QuantityValue(NamedTuple):
    """A quantity search value: ``[prefix]number|system|code`` (system and code optional)."""

    value: Number
    system: str | None = None
    code: str | None = None
    prefix: str | None = None


def format_quantity(value: QuantityValue | Number, where: str) -> str:
    """Render ``5.4`` or ``ge5.4|http://unitsofmeasure.org|mg``."""
    if not isinstance(value, QuantityValue):
        return format_number(value, where)
    if value.prefix is not None and value.prefix not in PREFIXES:
        raise InvalidArgumentError(f"{where}: unknown prefix (expected one of {', '.join(PREFIXES)})")
    text = (value.prefix or "") + format_number(value.value, where)
    if value.system is not None or value.code is not None:
        text += f"|{escape(value.system or '')}|{escape(value.code or '')}"
    return text


class Prefixed(NamedTuple):
    """A number or date with a comparison prefix, for composite parts and mixed-prefix ORs."""

    prefix: str
    value: Number | DateValue
