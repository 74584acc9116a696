"""The CapabilityStatement, built from what the sandbox really implements (never more)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from clinikfhir._generated.resource_types import RESOURCE_TYPES

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


def _search_params(search: ModuleType | None, rtype: str) -> list[dict[str, Any]]:
    if search is None or not hasattr(search, "supported_parameters"):
        return []
    out: list[dict[str, Any]] = []
    for param in search.supported_parameters(rtype):
        entry: dict[str, Any] = {"name": param.code, "type": param.type}
        if getattr(param, "url", ""):
            entry["definition"] = param.url
        out.append(entry)
    return out


def capability_statement(search: ModuleType | None, software_version: str) -> bytes:
    """The statement as JSON bytes. $everything is listed only when the search engine provides it."""
    everything = search is not None and hasattr(search, "everything")
    resources: list[dict[str, Any]] = []
    for rtype in sorted(RESOURCE_TYPES):
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": code} for code in _INTERACTIONS],
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": False,
            "conditionalCreate": search is not None,
            "conditionalUpdate": search is not None,
            "conditionalDelete": "single" if search is not None else "not-supported",
        }
        if search is None:
            entry["interaction"] = [{"code": c} for c in _INTERACTIONS if c != "search-type"]
        params = _search_params(search, rtype)
        if params:
            entry["searchParam"] = params
        operations = [{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}]
        if everything and rtype == "Patient":
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
                "resource": resources,
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    }
    return dumps(statement)
