"""The sans-IO core shared by :class:`~clinikfhir.Clinik` and :class:`~clinikfhir.AsyncClinik`.

Everything that is not sending bytes lives here, in parts:

* :mod:`._checks` -- checking ids and arguments, and the tenant guard;
* :mod:`._errors` -- decoding an answer, and mapping an error status to its typed error (the table
  is on the error classes: :func:`clinikfhir.errors.error_class`);
* :mod:`._exchange` -- one call's plan (:class:`Call`) and the retry loop as a state machine
  (:class:`Exchange`, clock and Idempotency-Key factory injected);
* :mod:`._calls` -- the :class:`Core` a client holds privately, with one ``call_*`` builder per operation.

This package's ``__init__`` imports only the checks and the state machine, never
:mod:`clinikfhir.bundle`, so ``bundle`` may import the checks without an import cycle.
"""

from __future__ import annotations

from clinikfhir._checks import (
    FHIR_JSON,
    JSON_PATCH,
    ParamsLike,
    check_id,
    check_id_like_query,
    clean_path,
    etag_for,
    etag_for_str,
    guard_json_body,
    guard_params,
    guard_resource,
    normalise_params,
    resource_json,
    tenant_codes,
)
from clinikfhir._core._exchange import Call, Done, Exchange, Wait, new_idempotency_key

__all__ = [
    "FHIR_JSON",
    "JSON_PATCH",
    "Call",
    "Done",
    "Exchange",
    "ParamsLike",
    "Wait",
    "check_id",
    "check_id_like_query",
    "clean_path",
    "etag_for",
    "etag_for_str",
    "guard_json_body",
    "guard_params",
    "guard_resource",
    "new_idempotency_key",
    "normalise_params",
    "resource_json",
    "tenant_codes",
]
