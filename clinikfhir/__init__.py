"""clinikfhir: a typed FHIR R4 client for the ClinikAPI FHIR passthrough.

>>> from clinikfhir import Clinik
>>> from clinikfhir.models import Patient
>>> with Clinik() as clinik:                      # doctest: +SKIP
...     patient = clinik.read(Patient, "pt_abc123")

Names are imported on first use, so ``import clinikfhir`` does not load the FHIR models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> defining module; loaded lazily by __getattr__ below
_EXPORTS: dict[str, str] = {
    "Clinik": "clinikfhir.client",
    "AsyncClinik": "clinikfhir.aio",
    "JsonPatch": "clinikfhir.patch",
    "validate": "clinikfhir.validation",
    "Issue": "clinikfhir.validation",
    "ClinikError": "clinikfhir.errors",
}

if TYPE_CHECKING:
    from clinikfhir.aio import AsyncClinik as AsyncClinik
    from clinikfhir.client import Clinik as Clinik
    from clinikfhir.errors import ClinikError as ClinikError
    from clinikfhir.patch import JsonPatch as JsonPatch
    from clinikfhir.validation import Issue as Issue
    from clinikfhir.validation import validate as validate

__all__ = ["AsyncClinik", "Clinik", "ClinikError", "Issue", "JsonPatch", "__version__", "validate"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
