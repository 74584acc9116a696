"""The CapabilityStatement, built from what the sandbox really implements (never more)."""

from __future__ import annotations

from typing import Any

from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir._wire import MODIFIER_EXTENSION, MODIFIERS_LISTED_EXTENSION

from . import search
from ._http import dumps

_INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]


def _search_entry(rtype: str) -> dict[str, Any]:
    """``searchParam``, ``searchInclude`` and ``searchRevInclude`` for ``rtype``, exactly as the engine
    implements them (its ``capability_fragment``), each parameter listing the modifiers ``run``
    accepts on it (:data:`MODIFIER_EXTENSION`; ``type`` stands for a reference's ``:Type`` modifiers)."""
    fragment: dict[str, Any] = search.capability_fragment(rtype)
    defs = {p.code: p for p in search.supported_parameters(rtype)}
    params: list[dict[str, Any]] = []
    for entry in fragment.get("searchParam", []):
        pdef = defs.get(entry["name"])
        modifiers: list[str] = []
        if pdef is not None:
            modifiers = list(search.parameter_modifiers(pdef))
            if pdef.type == "reference":
                modifiers.append("type")  # :[type], R5's code for the target-type modifier
        param = dict(entry)
        if modifiers:  # R4 JSON has no empty arrays: a parameter without modifiers has no extension
            param["extension"] = [{"url": MODIFIER_EXTENSION, "valueCode": m} for m in modifiers]
        params.append(param)
    out: dict[str, Any] = {"searchParam": params} if params else {}
    for field in ("searchInclude", "searchRevInclude"):
        if fragment.get(field):
            out[field] = list(fragment[field])
    return out


def capability_statement(software_version: str) -> bytes:
    """The statement as JSON bytes."""
    resources: list[dict[str, Any]] = []
    for rtype in sorted(RESOURCE_TYPES):
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": code} for code in _INTERACTIONS],
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": False,
            "conditionalCreate": True,
            "conditionalUpdate": True,
            "conditionalDelete": "single",
        }
        entry.update(_search_entry(rtype))
        operations = [{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}]
        if rtype == "Patient":
            operations.append(
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            )
        entry["operation"] = operations
        resources.append(entry)
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "publisher": "clinikfhir sandbox",
        "kind": "instance",
        "software": {"name": "clinikfhir sandbox", "version": software_version},
        "implementation": {"description": "Local sandbox of the ClinikAPI FHIR gateway"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": (
                        "Every request except GET /health and GET /v1/metadata needs an x-api-key header "
                        "(clk_test_… or clk_live_…). Data is partitioned by tenant (meta.tag system "
                        "https://clinikapi.com/tenant) and by environment."
                    )
                },
                "extension": [{"url": MODIFIERS_LISTED_EXTENSION, "valueBoolean": True}],
                "resource": resources,
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    }
    return dumps(statement)
