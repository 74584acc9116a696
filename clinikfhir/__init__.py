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

from clinikfhir._version import __version__ as __version__

# public name -> defining module; loaded lazily by __getattr__ below
_EXPORTS: dict[str, str] = {
    "Clinik": "clinikfhir.client",
    "AsyncClinik": "clinikfhir.aio",
    "JsonPatch": "clinikfhir.patch",
    "validate": "clinikfhir.validation",
    "Issue": "clinikfhir._issues",
    "Page": "clinikfhir.bundle",
    "Transaction": "clinikfhir.bundle",
    "ref": "clinikfhir.refs",
    "BundleResponse": "clinikfhir.bundle",
    "ResponseMeta": "clinikfhir._meta",
    "RetryPolicy": "clinikfhir._retry",
}
# Every public name of clinikfhir.errors (its __all__, the one list of them) is a root name too. The
# list is read when first needed, not here: importing errors would cost `import clinikfhir` ~17 ms.
_ERRORS = "clinikfhir.errors"

if TYPE_CHECKING:
    from clinikfhir._issues import Issue as Issue
    from clinikfhir._meta import ResponseMeta as ResponseMeta
    from clinikfhir._retry import RetryPolicy as RetryPolicy
    from clinikfhir.aio import AsyncClinik as AsyncClinik
    from clinikfhir.bundle import BundleResponse as BundleResponse
    from clinikfhir.bundle import Page as Page
    from clinikfhir.bundle import Transaction as Transaction
    from clinikfhir.client import Clinik as Clinik
    from clinikfhir.errors import *  # noqa: F403  (a star import re-exports: errors.__all__ is the list)
    from clinikfhir.patch import JsonPatch as JsonPatch
    from clinikfhir.refs import ref as ref
    from clinikfhir.validation import validate as validate


def _error_names() -> list[str]:
    names: list[str] = importlib.import_module(_ERRORS).__all__
    return names


def __getattr__(name: str) -> Any:
    if name == "__all__":
        value: Any = sorted([*_EXPORTS, *_error_names(), "__version__"])
    else:
        module = _EXPORTS.get(name)
        if module is None and not name.startswith("_") and name in _error_names():
            module = _ERRORS
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_error_names()})
