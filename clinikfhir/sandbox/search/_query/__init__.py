"""The query side of the engine as a small package, one floor per step:

``_sql`` (fragments, bounds) <- ``_plan`` (driver choice) <- ``_compile`` (parameters to
conditions) <- ``_sort`` / ``_include`` <- ``_run`` (result parameters, paging, snapshots).
"""

from __future__ import annotations

from ._compile import (
    ID_MODIFIERS,
    MODIFIERS,
    PREFIXES,
    RESULT_PARAMETERS,
    TEXT_PARAMS,
    Compiler,
    revinclude_pairs,
    revincludes,
    supported,
)
from ._direct import surely_unmatched
from ._include import IncludeSpec, parse_include, resolve_includes
from ._run import index_tenants, run
from ._sort import sort_clause

__all__ = [
    "ID_MODIFIERS",
    "MODIFIERS",
    "PREFIXES",
    "RESULT_PARAMETERS",
    "TEXT_PARAMS",
    "Compiler",
    "IncludeSpec",
    "index_tenants",
    "parse_include",
    "resolve_includes",
    "revinclude_pairs",
    "revincludes",
    "run",
    "sort_clause",
    "supported",
    "surely_unmatched",
]
