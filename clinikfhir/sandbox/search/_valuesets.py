"""Value sets known to ``:in``/``:not-in``: the required-binding value sets of FHIR R4, read from the
same generated table the validator uses (``clinikfhir._generated.validation_schema.VALUE_SETS``)."""

from __future__ import annotations

import functools

from clinikfhir._generated.validation_schema import VALUE_SETS

# Sets the package lists codes for (the two that cannot be enumerated at all are left out).
_KNOWN = frozenset(url for url, systems in VALUE_SETS.items() if systems)


def value_set_codes(url: str) -> frozenset[tuple[str, str]] | None:
    """The (system, code) pairs of a known value set (a ``|version`` suffix is ignored), else None."""
    key = url.split("|")[0]
    return _codes(key) if key in _KNOWN else None  # only known URLs are cached


@functools.cache
def _codes(url: str) -> frozenset[tuple[str, str]]:
    return frozenset((system, code) for system, codes in VALUE_SETS[url].items() for code in codes)


def known_value_sets() -> list[str]:
    """URLs of every value set ``:in``/``:not-in`` can use."""
    return sorted(_KNOWN)
