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
    "ClinikError": "clinikfhir.errors",
    "Page": "clinikfhir.bundle",
    "Transaction": "clinikfhir.bundle",
    "ref": "clinikfhir.refs",
    "BundleResponse": "clinikfhir.bundle",
    "ResponseMeta": "clinikfhir._meta",
    "RetryPolicy": "clinikfhir._retry",
}
# every public name of clinikfhir.errors is also reachable from the package root; listed here rather
# than read from errors.__all__ so that `import clinikfhir` stays lazy (tests/client/test_surface.py
# checks the two lists agree)
for _name in (
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "DeadlineExceededError",
    "ErrorIssue",
    "ForbiddenError",
    "IdempotencyConflictError",
    "InvalidArgumentError",
    "InvalidResponseError",
    "LocalError",
    "LocalValidationError",
    "ModelParseError",
    "MultipleMatchesError",
    "NetworkError",
    "NoMatchError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ServerError",
    "ServerValidationError",
    "TenantConflictError",
    "TenantGuardError",
    "UnsupportedSearchError",
    "ValidationFailed",
    "VersionConflictError",
):
    _EXPORTS.setdefault(_name, "clinikfhir.errors")

if TYPE_CHECKING:
    from clinikfhir._issues import Issue as Issue
    from clinikfhir._meta import ResponseMeta as ResponseMeta
    from clinikfhir._retry import RetryPolicy as RetryPolicy
    from clinikfhir.aio import AsyncClinik as AsyncClinik
    from clinikfhir.bundle import BundleResponse as BundleResponse
    from clinikfhir.bundle import Page as Page
    from clinikfhir.bundle import Transaction as Transaction
    from clinikfhir.client import Clinik as Clinik
    from clinikfhir.errors import (
        ApiError as ApiError,
    )
    from clinikfhir.errors import (
        AuthenticationError as AuthenticationError,
    )
    from clinikfhir.errors import (
        BadRequestError as BadRequestError,
    )
    from clinikfhir.errors import ClinikError as ClinikError
    from clinikfhir.errors import ConfigurationError as ConfigurationError
    from clinikfhir.errors import ConflictError as ConflictError
    from clinikfhir.errors import DeadlineExceededError as DeadlineExceededError
    from clinikfhir.errors import ErrorIssue as ErrorIssue
    from clinikfhir.errors import ForbiddenError as ForbiddenError
    from clinikfhir.errors import IdempotencyConflictError as IdempotencyConflictError
    from clinikfhir.errors import InvalidArgumentError as InvalidArgumentError
    from clinikfhir.errors import InvalidResponseError as InvalidResponseError
    from clinikfhir.errors import LocalError as LocalError
    from clinikfhir.errors import LocalValidationError as LocalValidationError
    from clinikfhir.errors import ModelParseError as ModelParseError
    from clinikfhir.errors import MultipleMatchesError as MultipleMatchesError
    from clinikfhir.errors import NetworkError as NetworkError
    from clinikfhir.errors import NoMatchError as NoMatchError
    from clinikfhir.errors import NotFoundError as NotFoundError
    from clinikfhir.errors import OutcomeUnknownError as OutcomeUnknownError
    from clinikfhir.errors import PayloadTooLargeError as PayloadTooLargeError
    from clinikfhir.errors import QuotaExceededError as QuotaExceededError
    from clinikfhir.errors import RateLimitError as RateLimitError
    from clinikfhir.errors import RequestTimeoutError as RequestTimeoutError
    from clinikfhir.errors import ResponseTooLargeError as ResponseTooLargeError
    from clinikfhir.errors import ServerError as ServerError
    from clinikfhir.errors import ServerValidationError as ServerValidationError
    from clinikfhir.errors import TenantConflictError as TenantConflictError
    from clinikfhir.errors import TenantGuardError as TenantGuardError
    from clinikfhir.errors import UnsupportedSearchError as UnsupportedSearchError
    from clinikfhir.errors import ValidationFailed as ValidationFailed
    from clinikfhir.errors import VersionConflictError as VersionConflictError
    from clinikfhir.patch import JsonPatch as JsonPatch
    from clinikfhir.refs import ref as ref
    from clinikfhir.validation import validate as validate

__all__ = sorted([*_EXPORTS, "__version__"])  # pyright: ignore[reportUnsupportedDunderAll]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
