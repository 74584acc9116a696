"""What the engine implements, for the CapabilityStatement: never more than ``run`` accepts."""

from __future__ import annotations

from typing import Any, Final

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef

from ._query import (
    ID_MODIFIERS,
    MODIFIERS,
    PREFIXES,
    RESULT_PARAMETERS,
    TEXT_PARAMS,
    revinclude_pairs,
    revincludes,
    supported,
)

SUPPORTED_MODIFIERS: Final[dict[str, tuple[str, ...]]] = dict(MODIFIERS)
"""Modifiers per parameter kind. Reference parameters also take ``:<TargetType>`` for each of
their targets, and support chaining (``a.b``) and ``_has``."""

SUPPORTED_PREFIXES: Final[dict[str, tuple[str, ...]]] = {kind: PREFIXES for kind in ("date", "number", "quantity")}
"""Comparison prefixes per parameter kind (eq ne gt lt ge le sa eb ap)."""

SUPPORTED_RESULT_PARAMETERS: Final[tuple[str, ...]] = RESULT_PARAMETERS
"""Result parameters handled by the engine: ``_sort`` (any indexed parameter, several keys, ``-``),
``_total``, ``_summary`` (``count`` and ``false`` only), ``_elements``, ``_include``/``_revinclude``
(with ``:iterate`` and ``*``)."""


def supported_parameters(type: str) -> list[ParamDef]:
    """The search parameters of ``type`` the engine indexes and matches, sorted by code."""
    params = SEARCH_PARAMETERS.get(type, {})
    return [params[code] for code in sorted(params) if supported(params[code], params)]


def parameter_modifiers(pdef: ParamDef) -> tuple[str, ...]:
    """The modifiers ``run`` accepts on one parameter (reference targets as ``:Type`` excluded)."""
    if pdef.code in TEXT_PARAMS:
        return ("missing", "contains")
    if pdef.code == "_id":
        return ID_MODIFIERS
    if pdef.code == "near":
        return ("missing",)
    if pdef.code == "_tag":  # the tenant rule refuses _tag:missing (every resource carries the tenant tag)
        return tuple(m for m in SUPPORTED_MODIFIERS.get(pdef.type, ()) if m != "missing")
    return SUPPORTED_MODIFIERS.get(pdef.type, ())


def _documentation(pdef: ParamDef) -> str:
    notes = [pdef.description.strip()]
    if pdef.code == "near":
        notes.append("Implemented as lat|long|distance|units with units km (default), m, mi; 10 km by default.")
    if pdef.code in TEXT_PARAMS:
        notes.append("Every word of a value must occur (case- and accent-insensitive); :contains is the same.")
    modifiers = [f":{m}" for m in parameter_modifiers(pdef)]
    if pdef.type == "reference":
        modifiers += [f":{t}" for t in pdef.targets]
        notes.append("Chaining (name.param, name:Type.param) and _has are supported.")
    if modifiers:
        notes.append("Modifiers: " + " ".join(modifiers) + ".")
    if pdef.type in SUPPORTED_PREFIXES:
        notes.append("Prefixes: " + " ".join(SUPPORTED_PREFIXES[pdef.type]) + ".")
    return "\n\n".join(n for n in notes if n)


def capability_fragment(type: str) -> dict[str, Any]:
    """The search part of a CapabilityStatement.rest.resource entry for ``type``: ``searchParam``
    (name, definition, type, documentation naming the supported modifiers and prefixes),
    ``searchInclude`` and ``searchRevInclude``; only what ``run`` implements."""
    params = supported_parameters(type)
    includes = ["*", *(f"{type}:{p.code}" for p in params if p.type == "reference")]
    list_param = {
        "name": "_list",
        "type": "special",
        "documentation": "Items of the caller's List resources with these ids (comma = OR). No modifiers.",
    }
    return {
        "searchParam": [
            *(
                {"name": p.code, "definition": p.url, "type": p.type, "documentation": _documentation(p)}
                for p in params
            ),
            list_param,
        ],
        "searchInclude": includes,
        "searchRevInclude": ["*", *revincludes().get(type, ())],
    }


__all__ = [
    "SUPPORTED_MODIFIERS",
    "SUPPORTED_PREFIXES",
    "SUPPORTED_RESULT_PARAMETERS",
    "capability_fragment",
    "parameter_modifiers",
    "revinclude_pairs",
    "supported_parameters",
]
