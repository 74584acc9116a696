"""The sandbox's FHIR R4 search engine: typed SQLite indexes written on every store write, and
tenant-scoped search over them (interface 6).

``install`` creates the index tables, ``reindex`` replaces one resource's rows inside the store's
transaction, ``run`` answers a type-level search, ``everything`` answers ``Patient/$everything``,
and ``supported_parameters`` / ``SUPPORTED_MODIFIERS`` / ``SUPPORTED_PREFIXES`` describe exactly what
is implemented, for the CapabilityStatement.
"""

from __future__ import annotations

from ._capabilities import (
    SUPPORTED_MODIFIERS,
    SUPPORTED_PREFIXES,
    SUPPORTED_RESULT_PARAMETERS,
    capability_fragment,
    supported_parameters,
)
from ._everything import everything
from ._index import reindex
from ._model import SearchError, SearchResult
from ._query import run
from ._schema import install

__all__ = [
    "SUPPORTED_MODIFIERS",
    "SUPPORTED_PREFIXES",
    "SUPPORTED_RESULT_PARAMETERS",
    "SearchError",
    "SearchResult",
    "capability_fragment",
    "everything",
    "install",
    "reindex",
    "run",
    "supported_parameters",
]
