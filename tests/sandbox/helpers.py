"""Resource builders and small helpers for the sandbox tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

TENANT_SYSTEM = "https://clinikapi.com/tenant"


def patient(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": "Smith", "given": ["John"]}],
        "gender": "male",
    }
    body.update(extra)
    return body


def observation(subject: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    if subject:
        body["subject"] = {"reference": subject}
    body.update(extra)
    return body


def tenant_tags(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in resource.get("meta", {}).get("tag", []) if t.get("system") == TENANT_SYSTEM]


def banner(stdout: Iterable[str] | None) -> str:
    """The lines a served sandbox prints up to and including its "Press Ctrl-C" line."""
    assert stdout is not None
    lines: list[str] = []
    for line in stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    return "".join(lines)
