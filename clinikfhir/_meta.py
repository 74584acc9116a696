"""Response metadata: what the gateway's headers say about one call (request id, rate limits, version)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import httpx

from clinikfhir._issues import Issue
from clinikfhir._public import shown_as_root

_WEAK_ETAG = re.compile(r'^(?:W/)?"([^"]*)"$')


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


@shown_as_root  # shown as clinikfhir.ResponseMeta, its public name
@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """Metadata of one completed call, read from the response headers.

    ``request_id`` (``x-request-id``, empty if absent), ``timestamp`` (``x-timestamp``), ``status``,
    the rate-limit figures (``x-ratelimit-limit``/``-remaining``/``-reset``, seconds until reset),
    ``etag`` and ``version_id`` (from ``ETag: W/"3"``), ``last_modified``, ``location``,
    ``retry_after`` (seconds), and ``attempts`` (how many attempts the call took).
    ``validation_issues``: on a write, the warnings and information notes local validation found
    (they did not block it), each with its element path and rule key.
    """

    status: int
    request_id: str = ""
    timestamp: str | None = None
    rate_limit_limit: int | None = None
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None
    etag: str | None = None
    version_id: str | None = None
    last_modified: str | None = None
    location: str | None = None
    retry_after: float | None = None
    method: str = ""
    resource_type: str = ""
    attempts: int = 1
    elapsed: float = 0.0
    validation_issues: tuple[Issue, ...] = ()

    def redacted(self) -> ResponseMeta:
        """This metadata with every text a server sent redacted (for an exception, which may be
        printed, logged or pickled): the key and PHI patterns, as :func:`~clinikfhir.errors.redact`."""
        from clinikfhir.errors import redact, redact_key

        def r(value: str | None) -> str | None:
            return redact_key(value) if value else value

        return replace(
            self,
            request_id=redact(self.request_id),
            timestamp=r(self.timestamp),
            etag=r(self.etag),
            version_id=r(self.version_id),
            last_modified=r(self.last_modified),
            location=redact(self.location) if self.location else None,
        )

    @classmethod
    def from_response(
        cls,
        response: httpx.Response,
        *,
        method: str = "",
        resource_type: str = "",
        attempts: int = 1,
        elapsed: float = 0.0,
        validation_issues: tuple[Issue, ...] = (),
    ) -> ResponseMeta:
        """Read the metadata headers of ``response`` (case-insensitively)."""
        # one pass over the raw headers: httpx's case-insensitive lookups rescan them every time
        h = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers.raw}
        etag = h.get("etag")
        version = None
        if etag:
            m = _WEAK_ETAG.match(etag.strip())
            version = m.group(1) if m else None
        return cls(
            status=response.status_code,
            request_id=h.get("x-request-id", ""),
            timestamp=h.get("x-timestamp"),
            rate_limit_limit=_int_or_none(h.get("x-ratelimit-limit")),
            rate_limit_remaining=_int_or_none(h.get("x-ratelimit-remaining")),
            rate_limit_reset=_int_or_none(h.get("x-ratelimit-reset")),
            etag=etag,
            version_id=version,
            last_modified=h.get("last-modified"),
            location=h.get("location"),
            retry_after=parse_retry_after(h.get("retry-after")),
            method=method,
            resource_type=resource_type,
            attempts=attempts,
            elapsed=elapsed,
            validation_issues=validation_issues,
        )


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer or decimal number; HTTP-dates are converted; else None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        from datetime import UTC, datetime

        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return seconds
