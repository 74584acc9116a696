"""The official R4 examples, and the exact list of those the spec itself ships invalid."""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "r4-examples-4.0.1.zip"

# Spec examples that violate R4 itself: file -> the (rule key, path) errors the validator must report,
# exactly. Each was checked by hand against the example and the R4 definition.
KNOWN_INVALID: dict[str, set[tuple[str, str]]] = {
    # SearchParameter.base is 1..*; these extension search parameters have none
    **{
        f"SearchParameter-{name}.json": {("cardinality", "SearchParameter.base")}
        for name in (
            "codesystem-extensions-CodeSystem-author",
            "codesystem-extensions-CodeSystem-effective",
            "codesystem-extensions-CodeSystem-end",
            "codesystem-extensions-CodeSystem-keyword",
            "codesystem-extensions-CodeSystem-workflow",
            "valueset-extensions-ValueSet-author",
            "valueset-extensions-ValueSet-effective",
            "valueset-extensions-ValueSet-end",
            "valueset-extensions-ValueSet-keyword",
            "valueset-extensions-ValueSet-workflow",
        )
    },
    # its id is 65 characters long (ids are 1..64)
    "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": {
        ("id", "SearchParameter.id")
    },
    # ImplementationGuide.name and .status are 1..1; both guides have neither
    "ImplementationGuide-fhir.json": {
        ("cardinality", "ImplementationGuide.name"),
        ("cardinality", "ImplementationGuide.status"),
    },
    "ig-r4.json": {
        ("cardinality", "ImplementationGuide.name"),
        ("cardinality", "ImplementationGuide.status"),
    },
    # nested items without linkId (Questionnaire.item.linkId is 1..1); the set is computed from the
    # JSON by _items_without_link_id, independently of the validator
    "Questionnaire-qs1.json": set(),
    # logical models with abstract = false and no baseDefinition (sdf-4)
    **{
        f"StructureDefinition-{name}.json": {("sdf-4", "StructureDefinition")}
        for name in ("Definition", "Event", "FiveWs", "Request")
    },
    # reference targets R4 does not allow
    "DeviceMetric-example.json": {("reference-target", "DeviceMetric.parent.reference")},  # DeviceDefinition
    "DeviceUseStatement-example.json": {  # a Procedure as reason
        ("reference-target", "DeviceUseStatement.reasonReference[0].reference")
    },
    "MedicationRequest-medrx0301.json": {  # a Practitioner as dispenser (Organization only)
        ("reference-target", "MedicationRequest.dispenseRequest.performer.reference")
    },
    "Observation-clinical-gender.json": {  # an Encounter as performer
        ("reference-target", "Observation.performer[0].reference")
    },
}


@functools.cache
def examples() -> dict[str, bytes]:
    """Every example of the corpus: file name -> JSON bytes."""
    with zipfile.ZipFile(CORPUS) as zf:
        return {name: zf.read(name) for name in sorted(zf.namelist())}


def load(name: str) -> dict[str, Any]:
    """A fresh decoded copy of one example."""
    data: dict[str, Any] = json.loads(examples()[name])
    return data


def valid_names() -> list[str]:
    """The examples that are valid R4."""
    return [n for n in examples() if n not in KNOWN_INVALID]


def _items_without_link_id(items: list[dict[str, Any]], path: str) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if "linkId" not in item:
            out.add(("cardinality", f"{here}.linkId"))
        out |= _items_without_link_id(item.get("item", []), f"{here}.item")
    return out


KNOWN_INVALID["Questionnaire-qs1.json"] = _items_without_link_id(
    load("Questionnaire-qs1.json")["item"], "Questionnaire.item"
)
