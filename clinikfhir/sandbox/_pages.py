"""Bundles built by splicing stored JSON texts: searchset and history pages, their gateway-relative
links and the signed page tokens that bind a page to its query, environment and tenant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from ._http import GatewayError, dumps, loads_exact

PAGE_PARAM = "_page"
DEFAULT_COUNT = 20
MAX_COUNT = 100


def clamp_count(raw: str | None) -> int:
    """`_count` clamped to 1..100; missing, zero, negative or non-numeric becomes 20 (§6, §16.8)."""
    if raw is None:
        return DEFAULT_COUNT
    try:
        value = int(raw.strip())
    except ValueError:
        return DEFAULT_COUNT
    if value <= 0:
        return DEFAULT_COUNT
    return min(value, MAX_COUNT)


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where a page token points: the offset of its first entry, and the search snapshot that
    serves it (None: the page is read by offset over the current data)."""

    offset: int
    snapshot: str | None = None


_SNAPSHOT_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAC_CHARS = 24  # 18 bytes of HMAC-SHA256, base64url


class PageSigner:
    """HMAC page tokens: ``<offset>.[<snapshot>]<signature>`` (the signature is the last 24
    characters) over env, tenant, route, the query itself, the offset and the snapshot id; opaque to
    clients and bound to their tenant."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(
        self,
        env: str,
        tenant: str,
        route: str,
        params: Sequence[tuple[str, str]],
        offset: int,
        snapshot: str | None = None,
    ) -> str:
        fields: list[Any] = [env, tenant, route, [list(p) for p in params], offset]
        if snapshot is not None:
            fields.append(snapshot)
        digest = hmac.new(self._secret, orjson.dumps(fields), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def sign(
        self,
        env: str,
        tenant: str,
        route: str,
        params: Sequence[tuple[str, str]],
        offset: int,
        snapshot: str | None = None,
    ) -> str:
        """A token for the page at ``offset`` (served from ``snapshot`` while it is kept)."""
        return f"{offset}.{snapshot or ''}{self._mac(env, tenant, route, params, offset, snapshot)}"

    def position(
        self, token: str, env: str, tenant: str, route: str, params: Sequence[tuple[str, str]]
    ) -> PagePosition:
        """The position a token carries; 400 INVALID_PARAMETER if it was not issued for this very
        query and caller (another tenant's token is just invalid)."""
        head, _, tail = token.partition(".")
        if not head.isdigit() or len(head) > 9 or len(tail) < _MAC_CHARS:
            raise _bad_token()
        snapshot, mac = tail[:-_MAC_CHARS] or None, tail[-_MAC_CHARS:]
        if snapshot is not None and not _SNAPSHOT_RE.fullmatch(snapshot):
            raise _bad_token()
        offset = int(head)
        if not hmac.compare_digest(mac, self._mac(env, tenant, route, params, offset, snapshot)):
            raise _bad_token()
        return PagePosition(offset, snapshot)

    def offset(self, token: str, env: str, tenant: str, route: str, params: Sequence[tuple[str, str]]) -> int:
        """The offset a token carries (see :meth:`position`)."""
        return self.position(token, env, tenant, route, params).offset


def _bad_token() -> GatewayError:
    return GatewayError(
        400,
        "INVALID_PARAMETER",
        "The page token is not valid for this query",
        issues=[
            {"severity": "error", "code": "invalid", "diagnostics": "invalid page token", "expression": [PAGE_PARAM]}
        ],
        fhir=True,
    )


def link_url(route: str, params: Sequence[tuple[str, str]], count: int, token: str | None) -> str:
    """A gateway-relative link: ``/v1/fhir/{route}?<params>&_count=N[&_page=…]``."""
    pairs = [*params, ("_count", str(count))]
    if token is not None:
        pairs.append((PAGE_PARAM, token))
    return f"/v1/fhir/{route}?" + urlencode(pairs, quote_via=quote, safe=":,|$")


def fetch_bodies(
    conn: sqlite3.Connection, env: str, tenant: str, refs: Iterable[tuple[str, str]], *, lingering: bool = False
) -> dict[tuple[str, str], str]:
    """Current bodies of live resources of ``tenant`` (anything else silently absent).

    ``lingering``: a deleted resource the (lagging) index still matches is served as its last version."""
    out: dict[tuple[str, str], str] = {}
    for rtype, rid in refs:
        row = conn.execute(
            "SELECT body FROM resources WHERE env=? AND type=? AND id=? AND tenant=? AND deleted=0",
            (env, rtype, rid, tenant),
        ).fetchone()
        if row is None and lingering:
            row = conn.execute(
                "SELECT body FROM history WHERE env=? AND type=? AND id=? AND tenant=? AND deleted=0"
                " ORDER BY version DESC LIMIT 1",
                (env, rtype, rid, tenant),
            ).fetchone()
        if row is not None and row[0] is not None:
            out[(rtype, rid)] = str(row[0])
    return out


def subset(body: str, elements: Sequence[str]) -> str:
    """A resource reduced to its mandatory and the requested top-level elements, tagged SUBSETTED."""
    resource: dict[str, Any] = loads_exact(body)
    keep = {"resourceType", "id", "meta", *(e.split(".", 1)[0] for e in elements)}
    out = {k: v for k, v in resource.items() if k in keep}
    meta = dict(out.get("meta") or {})
    tags = list(meta.get("tag") or [])
    tags.append({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"})
    meta["tag"] = tags
    out["meta"] = meta
    return dumps(out).decode("utf-8")


def bundle_bytes(
    *,
    btype: str,
    total: int | None,
    links: list[tuple[str, str]],
    entries: list[str],
) -> bytes:
    """Splice pre-serialised entry texts into a Bundle."""
    head: dict[str, Any] = {"resourceType": "Bundle", "type": btype}
    if total is not None:
        head["total"] = total
    if links:
        head["link"] = [{"relation": rel, "url": url} for rel, url in links]
    text = dumps(head)
    if not entries:
        return text
    return text[:-1] + b',"entry":[' + ",".join(entries).encode("utf-8") + b"]}"


def entry_text(full_url: str | None, resource: str | None, extra: dict[str, Any] | None = None) -> str:
    """One Bundle entry: ``fullUrl``, the stored ``resource`` text verbatim, then ``extra`` fields."""
    parts: list[str] = []
    if full_url is not None:
        parts.append('"fullUrl":' + dumps(full_url).decode("utf-8"))
    if resource is not None:
        parts.append('"resource":' + resource)
    if extra:
        for key, value in extra.items():
            parts.append(dumps(key).decode("utf-8") + ":" + dumps(value).decode("utf-8"))
    return "{" + ",".join(parts) + "}"
