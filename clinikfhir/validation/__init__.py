"""Local validation of FHIR R4 resources: every problem at once, with element paths, no values.

``validate(resource_or_dict)`` returns a list of :class:`Issue`. The client runs it before every
write and the sandbox uses the same function for its 422 responses and ``$validate``, so the local
and the server verdict cannot disagree.
"""

from __future__ import annotations

from ._issues import Issue, Severity, has_errors, to_operation_outcome
from ._validate import validate

__all__ = ["Issue", "Severity", "has_errors", "to_operation_outcome", "validate"]
