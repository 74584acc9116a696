"""Value sets known to ``:in``/``:not-in``: the required-binding value sets of FHIR R4 (generated)."""

from __future__ import annotations

import functools

from clinikfhir._generated.search_value_sets import REQUIRED_VALUE_SETS


def value_set_codes(url: str) -> frozenset[tuple[str, str]] | None:
    """The (system, code) pairs of a known value set (a ``|version`` suffix is ignored), else None."""
    key = url.split("|")[0]
    return _codes(key) if key in REQUIRED_VALUE_SETS else None  # only known URLs are cached


@functools.cache
def _codes(url: str) -> frozenset[tuple[str, str]]:
    return frozenset(REQUIRED_VALUE_SETS[url])


def known_value_sets() -> list[str]:
    """URLs of every value set ``:in``/``:not-in`` can use."""
    return sorted(REQUIRED_VALUE_SETS)
