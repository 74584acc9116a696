"""Logging: the ``clinikfhir`` logger, and redaction of httpx's own request log.

The ``clinikfhir`` logger writes one line per attempt with method, resource type, status, duration
and request id. Never bodies, keys, ids, paths or search values: those may be patient data or
secrets. httpx logs every request's full URL on its ``httpx`` logger at INFO; creating a client
installs :class:`RedactUrlFilter` there (once), which keeps scheme, host and the path's structure
and replaces every query value and id segment with ``***``; httpcore's DEBUG records (raw headers)
are cut to their event name by :class:`WithholdDetailsFilter`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import httpx

if TYPE_CHECKING:
    from clinikfhir._issues import Issue

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


def log_validation_issues(method: str, resource_type: str, issues: Sequence[Issue]) -> None:
    """Record (INFO) that a write was sent with non-blocking validation issues: their count and
    each one's path and rule key, never a value.

    INFO, not WARNING: best-practice rules such as dom-6 (no narrative) fire on most resources, and a
    library must not print on every create through logging's last-resort handler. The issues
    themselves are on ``last_response.validation_issues``.
    """
    if issues and logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s: sent with %d non-blocking validation issue(s): %s",
            method,
            resource_type or "-",
            len(issues),
            "; ".join(f"{i.severity} {i.path} [{i.key or i.code}]" for i in issues),
        )


# ---------------------------------------------------------------------- httpx's own request log

_STRUCTURAL = frozenset({"", "v1", "fhir", "metadata", "_history", "_search"})


def _redact_path(path: str) -> str:
    from clinikfhir._generated.resource_types import RESOURCE_TYPES

    return "/".join(
        s if s in _STRUCTURAL or s in RESOURCE_TYPES or s.startswith("$") else "***" for s in path.split("/")
    )


def redact_url(url: str) -> str:
    """``url`` fit for a log line: scheme, host and the path's structure (``/v1/fhir/Patient/***``)
    kept; every query value replaced by ``***`` (parameter names kept); ids and fragment dropped.

    >>> redact_url("https://api.clinikapi.com/v1/fhir/Patient/pt_1?family=Smith&_count=5#x")
    'https://api.clinikapi.com/v1/fhir/Patient/***?family=***&_count=***'
    """
    head, _, rest = url.partition("?")
    head = head.partition("#")[0]
    scheme, sep, after = head.partition("://")
    if sep:
        host, slash, path = after.partition("/")
        head = f"{scheme}://{host}{_redact_path(slash + path) if slash else ''}"
    else:
        head = _redact_path(head)
    if not rest:
        return head
    query = rest.partition("#")[0]
    names = [pair.partition("=")[0] for pair in query.split("&") if pair]
    return head + "?" + "&".join(f"{n}=***" for n in names)


_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


def _scrub(value: object) -> object:
    if isinstance(value, httpx.URL):
        return redact_url(str(value))
    if isinstance(value, str) and "://" in value:
        return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), value)
    return value


class RedactUrlFilter(logging.Filter):
    """Rewrites every URL in a record of httpx's logger (``HTTP Request: GET https://...?family=Smith``)
    with :func:`redact_url`, so search values and ids never reach a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = cast(str, _scrub(record.msg))
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_scrub(a) for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: _scrub(v) for k, v in args.items()}
        return True


class WithholdDetailsFilter(logging.Filter):
    """Keeps only the event name of an httpcore DEBUG record (``receive_response_headers.complete``):
    httpcore appends the raw request and response headers (``Location`` with resource ids, anything
    a server echoes) and URLs, which must never reach a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut the record to its event name, in place; never drops it."""
        text = record.getMessage()
        event = text.split(" ", 1)[0]
        if event != text:
            record.msg = f"{event} (details withheld by clinikfhir)"
            record.args = ()
        return True


#: httpcore's loggers (a filter on a parent logger does not see its children's records)
HTTPCORE_LOGGERS = ("httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.socks")


def install_httpx_filter() -> None:
    """Install :class:`RedactUrlFilter` on the ``httpx`` logger and :class:`WithholdDetailsFilter` on
    httpcore's, once (called when a client is created)."""
    target = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrlFilter) for f in target.filters):
        target.addFilter(RedactUrlFilter())
    for name in (*HTTPCORE_LOGGERS, "httpcore"):
        core = logging.getLogger(name)
        if not any(isinstance(f, WithholdDetailsFilter) for f in core.filters):
            core.addFilter(WithholdDetailsFilter())
