"""The issue type every validator reports, and its OperationOutcome form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from clinikfhir._public import shown_as_root

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a resource.

    ``path`` is a FHIRPath-style element path (``Patient.name[0].given[1]``); ``key`` names the rule
    (an invariant key such as ``obs-6``, ``binding``, ``type``, ``cardinality``...). ``message``
    never contains the offending value: resources carry patient data.
    """

    severity: Severity
    code: str  # an OperationOutcome issue-type code: invalid, required, value, invariant, structure...
    path: str
    message: str
    key: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def __str__(self) -> str:
        rule = f" [{self.key}]" if self.key else ""
        return f"{self.severity}: {self.path}: {self.message}{rule}"


def has_errors(issues: list[Issue]) -> bool:
    """True when any issue blocks a write (severity error or fatal)."""
    return any(i.is_error for i in issues)


def to_operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """The issues as a FHIR OperationOutcome (JSON), as the sandbox returns them."""
    if not issues:
        return {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": "No issues found"}],
        }
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": i.severity,
                "code": i.code,
                "diagnostics": f"{i.path}: {i.message}" + (f" [{i.key}]" if i.key else ""),
                "expression": [i.path],
            }
            for i in issues
        ],
    }


shown_as_root(Issue)  # shown as clinikfhir.Issue, its public name
