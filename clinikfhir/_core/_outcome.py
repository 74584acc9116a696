"""Learning the true outcome of a write whose earlier attempt's answer was lost.

A PUT with ``If-Match`` or a DELETE that is retried after a lost answer can meet its own earlier
success: the PUT's ``If-Match`` no longer matches (412/409), the DELETE finds nothing (404/410).
Rather than report that as a failure, :class:`~clinikfhir._core.Exchange` asks the server once
(a ``vread`` for the PUT, the instance history for the DELETE) and decides here, exactly:

* PUT ``If-Match: W/"N"``: the earlier attempt landed iff version N+1 exists and holds what was sent
  (an ``If-Match`` write can only ever become version N+1);
* DELETE: the earlier attempt (or a concurrent delete) landed iff the newest history entry is a
  deletion not older than the call (by the server's clock, anchored on the retry's ``x-timestamp``:
  every server event of the call is at or after ``x-timestamp - elapsed``), and, under
  ``If-Match: W/"N"``, it is version N+1. No history at all, or a deletion older than the call:
  there was nothing to delete (``NotFoundError`` is the truth). A deletion inside the call's window
  may be a concurrent client's; FHIR makes delete idempotent, so the call is reported done.

Anything these cannot settle is :class:`~clinikfhir.errors.OutcomeUnknownError`, never a guess.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast

_ETAG_VERSION = re.compile(r'^(?:W/)?"(\d{1,18})"$')


def instance_target(path: str, params: object) -> tuple[str, str] | None:
    """(type, id) when ``path`` names one instance (``/v1/fhir/Patient/p1``, no query), else None."""
    if params:
        return None
    parts = path.split("/")
    if len(parts) == 5 and parts[:3] == ["", "v1", "fhir"] and parts[3][:1].isupper() and parts[4]:
        return parts[3], parts[4]
    return None


def matched_version(if_match: str | None) -> int | None:
    """N from ``If-Match: W/"N"`` (an integer version), else None."""
    if if_match is None:
        return None
    m = _ETAG_VERSION.match(if_match.strip())
    return int(m.group(1)) if m else None


def _without_meta(data: object) -> object:
    if isinstance(data, dict):
        return {k: v for k, v in cast("dict[str, Any]", data).items() if k != "meta"}
    return data


def same_content(sent: object, stored: object) -> bool:
    """True when the stored version holds what was sent (``meta`` is the server's to set)."""
    return _without_meta(sent) == _without_meta(stored)


def parse_instant(text: object) -> float | None:
    """Seconds since the epoch of an ISO instant (``2026-12-03T12:26:57.228178Z``), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


def newest_deletion(history: object) -> tuple[float | None, int | None] | None:
    """(when, version) of the newest history entry if it is a deletion; None if it is not one."""
    if not isinstance(history, dict):
        return None
    entries = cast("dict[str, Any]", history).get("entry")
    if not isinstance(entries, list) or not entries:
        return None
    first = cast("list[object]", entries)[0]
    if not isinstance(first, dict):
        return None
    entry = cast("dict[str, Any]", first)
    request = entry.get("request")
    if not isinstance(request, dict) or cast("dict[str, Any]", request).get("method") != "DELETE":
        return None
    response = entry.get("response")
    response = cast("dict[str, Any]", response) if isinstance(response, dict) else {}
    return parse_instant(response.get("lastModified")), matched_version(response.get("etag"))


def deleted_during_call(deleted_at: float | None, server_now: str | None, elapsed: float) -> bool | None:
    """Whether a deletion at ``deleted_at`` (server clock) happened after the call started.

    ``server_now`` is the ``x-timestamp`` of an answer received ``elapsed`` seconds (client clock)
    after the call started, so every server event of this call is at or after
    ``server_now - elapsed``. None when a timestamp is missing (the outcome stays unknown).
    """
    now = parse_instant(server_now)
    if deleted_at is None or now is None:
        return None
    return deleted_at >= now - elapsed
