"""The ``clinikfhir`` logger: one line per attempt with method, resource type, status, duration and
request id. Never bodies, keys, ids, paths or search values: those may be patient data or secrets."""

from __future__ import annotations

import logging

logger = logging.getLogger("clinikfhir")


def log_response(method: str, resource_type: str, status: int, seconds: float, request_id: str, attempt: int) -> None:
    """Record one completed attempt (DEBUG; errors at INFO)."""
    level = logging.DEBUG if status < 400 else logging.INFO
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "%s %s -> %d in %.1f ms (request id %s, attempt %d)",
            method,
            resource_type or "-",
            status,
            seconds * 1000.0,
            request_id or "-",
            attempt,
        )


def log_failure(method: str, resource_type: str, error: str, seconds: float, attempt: int) -> None:
    """Record an attempt that got no response (INFO): only the error class, never its text."""
    logger.info(
        "%s %s -> %s after %.1f ms (attempt %d)", method, resource_type or "-", error, seconds * 1000.0, attempt
    )


def log_retry(method: str, resource_type: str, wait: float, attempt: int) -> None:
    """Record a scheduled retry (INFO)."""
    logger.info("%s %s: retrying in %.2f s (attempt %d failed)", method, resource_type or "-", wait, attempt)
