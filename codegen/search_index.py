"""Emit the search engine's lookup tables: Patient compartment and choice elements.

``search_compartment.py`` maps each resource type of the official Patient CompartmentDefinition to
the search parameters that place a resource in a patient's compartment (only parameters the
search-parameter table defines for that type, so every one is indexable). The value sets behind
``:in``/``:not-in`` are the validator's table (``validation_schema.VALUE_SETS``), not a second copy.
"""

from __future__ import annotations

from ._common import GENERATED, header, load


def _defined_params() -> dict[str, set[str]]:
    """Codes per resource type, read from the vendored definitions the same way the table does."""
    params: dict[str, set[str]] = {}
    for sp in load("search-parameters.json"):
        for base in sp.get("base", []):
            params.setdefault(base, set()).add(sp["code"])
    return params


def _compartment() -> str:
    comp = load("compartment-patient.json")
    defined = _defined_params()
    rows: list[tuple[str, tuple[str, ...]]] = []
    for entry in comp["resource"]:
        names = tuple(sorted(p for p in entry.get("param", []) if p in defined.get(entry["code"], set())))
        if names:
            rows.append((entry["code"], names))
    lines = [
        header("codegen/search_index.py", "compartment-patient.json", "search-parameters.json"),
        '"""The official FHIR R4 Patient compartment: resource type -> parameters linking it to the patient."""',
        "",
        "from typing import Final",
        "",
        f"COMPARTMENT_URL: Final[str] = {comp['url']!r}",
        "",
        "PATIENT_COMPARTMENT: Final[dict[str, tuple[str, ...]]] = {",
        *(f"    {code!r}: {names!r}," for code, names in sorted(rows)),
        "}",
        "",
    ]
    return "\n".join(lines)


def _choice_elements() -> str:
    names = sorted(
        {
            element["path"].split(".")[-1][: -len("[x]")]
            for sd in load("structure-definitions.json")["structureDefinitions"]
            for element in sd.get("elements", [])
            if element["path"].endswith("[x]")
        }
    )
    lines = [
        header("codegen/search_index.py", "structure-definitions.json"),
        '"""Names of every choice element (``value[x]``, ``effective[x]``...) in FHIR R4 resources and data',
        'types: the search evaluator looks for ``<name><Type>`` JSON keys only under these names."""',
        "",
        "from typing import Final",
        "",
        "CHOICE_ELEMENTS: Final[frozenset[str]] = frozenset({",
        *(f"    {name!r}," for name in names),
        "})",
        "",
    ]
    return "\n".join(lines)


def emit() -> dict[str, str]:
    return {
        f"{GENERATED}/search_choice_elements.py": _choice_elements(),
        f"{GENERATED}/search_compartment.py": _compartment(),
    }


__all__ = ["emit"]
