"""Emit the list of FHIR R4 resource types and which of them fhir.resources' R4B package lacks."""

from __future__ import annotations

import importlib.util

from ._common import GENERATED, header, load


def r4_resource_types() -> list[str]:
    """Every concrete R4 resource type (kind resource, not abstract), sorted."""
    sds = load("structure-definitions.json")["structureDefinitions"]
    return sorted(
        sd["type"]
        for sd in sds
        if sd["kind"] == "resource" and not sd["abstract"] and sd["derivation"] == "specialization"
    )


def emit() -> dict[str, str]:
    types = r4_resource_types()
    r4b_module = {t: f"fhir.resources.R4B.{t.lower()}" for t in types}
    missing = sorted(t for t, mod in r4b_module.items() if importlib.util.find_spec(mod) is None)
    lines = [
        header("codegen/resource_types.py", "structure-definitions.json"),
        '"""FHIR R4 resource type names, and the R4-only ones that fhir.resources R4B has no model for."""',
        "",
        "from typing import Final",
        "",
        "RESOURCE_TYPES: Final[frozenset[str]] = frozenset({",
        *(f"    {t!r}," for t in types),
        "})",
        "",
        "R4_ONLY_TYPES: Final[frozenset[str]] = frozenset({",
        *(f"    {t!r}," for t in missing),
        "})",
        "",
    ]
    return {f"{GENERATED}/resource_types.py": "\n".join(lines)}
