"""The sandbox's FHIR R4 search engine: typed SQLite indexes written on every store write, and
tenant-scoped search over them (interface 6).

``install`` creates the index tables, ``reindex`` replaces one resource's rows inside the store's
transaction, ``run`` answers a type-level search, ``everything`` answers ``Patient/$everything``,
and ``supported_parameters`` / ``capability_fragment`` / ``SUPPORTED_MODIFIERS`` /
``SUPPORTED_PREFIXES`` describe exactly what is implemented, for the CapabilityStatement.

Indexing: every parameter of the generated table (``clinikfhir._generated.search_parameters``) with
an expression is evaluated on write, by compiled path walkers for the simple expressions and by
fhirpathpy for the rest; rows carry env and tenant and are replaced on every write. A parameter
whose rows another parameter already holds (Observation's ``combo-code`` is ``code`` plus
``component-code``; ``patient`` is ``subject`` pointing at a Patient) is written once and read under
both names (``_folds``): fewer rows per write, the same answers.

Matching choices, where the R4 search page leaves room:

- dates are half-open ranges [low, high) at their precision, in UTC (a time without zone is UTC);
  ``_lastUpdated`` is the stored instant taken as a point (the sandbox stamps microseconds), which
  makes every prefix an index range;
  eq = contained, ne = not contained, gt = ends after, lt = starts before, ge = gt or eq,
  le = lt or eq, sa = starts at or after the end, eb = ends at or before the start, ap = overlaps
  the value widened by 10% of its distance from now (at least its own width);
- numbers and quantities: eq/ne use the search value's implicit precision (``100`` = [99.5, 100.5));
  the other prefixes compare the value; a Range target is its [low, high]; quantities compare
  system and code as given (``value||unit`` matches code or unit); no unit conversion;
- strings match per part (each name part, address part, or string leaf): starts-with, ``:exact``
  (case and accents kept), ``:contains``; case- and accent-insensitive otherwise;
- token ``:text`` is a string search (R4 §3.1.1.4.10): a coding's display or a concept's (or an
  identifier type's) text starts with the value, case- and accent-insensitively; ``:not`` and
  ``:not-in`` include resources with no value; ``:in``/``:not-in`` know every value set of a
  required binding in R4 (``clinikfhir._generated.validation_schema.VALUE_SETS``);
- references match by id, ``Type/id``, ``:Type``, absolute or canonical URL (``url|version``) and
  ``:identifier``; chains and ``_has`` nest up to 8 levels, every level within the caller's tenant;
- ``_sort`` keys: dates by earliest start (descending: latest start), numbers/quantities by low
  (descending: high), strings and tokens by value; missing values last; ties by id.

``_content``/``_text`` match when every word of a value occurs in the resource's strings / narrative;
``_list=id`` matches the items of the caller's List resources; ``near=lat|long|distance|units``
(km, m, mi; 10 km by default) uses the equirectangular approximation.

Bounds (a 400 naming the parameter, never a 500): 16 ``_sort`` keys, 500 OR values per parameter
and 1,000 in one search, 100 AND-ed parameters, 8 levels of chains/``_has``, 32 includes, numbers
within the index's float range. The ``_tag`` tenant rule is :func:`clinikfhir._syntax.tenant_tag_refusal`
(403 TENANT_CONFLICT), the one the gateway and the client's guard apply.

Paging: ``run(..., snapshot=True)`` keeps the ordered matches of a search with more than one page
(``SearchResult.snapshot``); later pages are slices of it (see ``_snapshots`` for the semantics
under concurrent writes); ``snapshot=False`` pages by offset over the current data.

Fast paths, each held by a property test to the plain plan's answers (``run(..., fast=False)``):
1-4 plain token equalities (``identifier=system|value``, ``_tag=system|code``: the conditional
create's usual criteria) are one lookup on the token index (``_query/_direct``; ``surely_unmatched``
rules out, in one statement for a whole transaction, the criteria whose codes no resource holds); a
sort key on the rows a checked condition reads comes from the same join as the condition
(``_query/_plan``).

Not implemented (a 400 naming the parameter, or a warning under lenient handling):
``_query``, ``_type``, ``_contained``, token ``:above``/``:below``,
``_summary`` other than ``count``/``false``.
"""

from __future__ import annotations

from ._capabilities import (
    SUPPORTED_MODIFIERS,
    SUPPORTED_PREFIXES,
    SUPPORTED_RESULT_PARAMETERS,
    capability_fragment,
    parameter_modifiers,
    supported_parameters,
)
from ._everything import everything
from ._index import IndexBatch, install, reindex
from ._model import SearchError, SearchResult
from ._query import run, surely_unmatched

__all__ = [
    "SUPPORTED_MODIFIERS",
    "SUPPORTED_PREFIXES",
    "SUPPORTED_RESULT_PARAMETERS",
    "IndexBatch",
    "SearchError",
    "SearchResult",
    "capability_fragment",
    "everything",
    "install",
    "parameter_modifiers",
    "reindex",
    "run",
    "supported_parameters",
    "surely_unmatched",
]
