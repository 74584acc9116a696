"""What the engine implements, for the CapabilityStatement: never more than ``run`` accepts."""

from __future__ import annotations

from typing import Final

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef

from ._query import MODIFIERS, PREFIXES, RESULT_PARAMETERS
from ._schema import TABLES

SUPPORTED_MODIFIERS: Final[dict[str, tuple[str, ...]]] = dict(MODIFIERS)
"""Modifiers per parameter kind. Reference parameters also take ``:<TargetType>`` for each of
their targets, and support chaining (``a.b``) and ``_has``."""

SUPPORTED_PREFIXES: Final[dict[str, tuple[str, ...]]] = {kind: PREFIXES for kind in ("date", "number", "quantity")}
"""Comparison prefixes per parameter kind (eq ne gt lt ge le sa eb ap)."""

SUPPORTED_RESULT_PARAMETERS: Final[tuple[str, ...]] = RESULT_PARAMETERS
"""Result parameters handled by the engine: ``_sort`` (any indexed parameter, several keys, ``-``),
``_total``, ``_summary`` (``count`` and ``false`` only), ``_elements``, ``_include``/``_revinclude``
(with ``:iterate`` and ``*``)."""


def _supported(pdef: ParamDef, params: dict[str, ParamDef]) -> bool:
    if not pdef.expression:
        return False
    if pdef.type == "composite":
        comps = [params.get(code) for code, _ in pdef.components]
        return bool(comps) and all(c is not None and c.type in TABLES for c in comps)
    return pdef.type in TABLES


def supported_parameters(type: str) -> list[ParamDef]:
    """The search parameters of ``type`` the engine indexes and matches, sorted by code."""
    params = SEARCH_PARAMETERS.get(type, {})
    return [params[code] for code in sorted(params) if _supported(params[code], params)]
