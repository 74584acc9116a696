"""The mapping from FHIR search parameter codes to Python member names of the query classes.

``-`` becomes ``_``; camelCase becomes snake_case; a leading ``_`` moves to the end (``_id`` ->
``id_``, ``_lastUpdated`` -> ``last_updated_``); Python keywords and names the builder itself uses
get a trailing ``_`` (``class`` -> ``class_``). The generator and users share this one function.
"""

from __future__ import annotations

import keyword
import re

RESERVED = frozenset(
    {
        "raw", "has", "in_list", "count", "elements", "summary", "total", "contained", "params",
        "query_string", "check", "ensure_supported", "get", "iter", "first", "sort", "include",
        "revinclude", "resource_type", "missing", "page", "pages", "one", "page_size",
    }
)  # fmt: skip
"""Member names of queries and parameter sets that a parameter may not take."""


def python_name(code: str) -> str:
    """The query-class member for a parameter code: ``python_name("address-city") == "address_city"``."""
    private = code.startswith("_")
    name = code.lstrip("_").replace("-", "_")
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    if private or keyword.iskeyword(name) or name in RESERVED:
        name += "_"
    return name
