"""Tenant isolation rules (gateway.md §7): the tenant tag on writes, and `_tag` checks on searches.

Every rule fails loudly with 403 TENANT_CONFLICT; no message echoes a foreign tenant code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from clinikfhir._wire import TENANT_SYSTEM

from ._http import ApiError, ErrorIssue, obj


def tenant_tag(tenant: str) -> dict[str, Any]:
    """The canonical tenant coding."""
    return {"system": TENANT_SYSTEM, "code": tenant}


def conflict(message: str, expression: str) -> ApiError:
    return ApiError(
        403,
        "TENANT_CONFLICT",
        message,
        issues=[ErrorIssue("error", "forbidden", message, expression).as_json()],
        fhir=True,
    )


def _tags_of(resource: dict[str, Any], rtype: str) -> list[Any]:
    raw_meta: Any = resource.get("meta")
    if raw_meta is None:
        return []
    meta = obj(raw_meta)
    if meta is None:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            "meta must be an object",
            issues=[ErrorIssue("error", "structure", "meta must be an object", f"{rtype}.meta").as_json()],
        )
    tags: Any = meta.get("tag")
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            "meta.tag must be an array",
            issues=[ErrorIssue("error", "structure", "meta.tag must be an array", f"{rtype}.meta.tag").as_json()],
        )
    return list(tags)  # pyright: ignore[reportUnknownArgumentType]


def inject(resource: dict[str, Any], rtype: str, tenant: str) -> None:
    """Rule 7.5.1: drop same-tenant tags, refuse foreign ones, keep other systems, add the tag once."""
    kept: list[Any] = []
    for i, tag in enumerate(_tags_of(resource, rtype)):
        if isinstance(tag, dict) and tag.get("system") == TENANT_SYSTEM:  # pyright: ignore[reportUnknownMemberType]
            if tag.get("code") != tenant:  # pyright: ignore[reportUnknownMemberType]
                raise conflict("meta.tag carries a tenant tag of another tenant", f"{rtype}.meta.tag[{i}]")
            continue
        kept.append(tag)
    kept.append(tenant_tag(tenant))
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    meta["tag"] = kept
    resource["meta"] = meta


def check_patched(resource: dict[str, Any], rtype: str, tenant: str) -> None:
    """Rule 7.5.2 for JSON Patch: after the patch the tenant coding must be exactly the stored one."""
    try:
        tags = _tags_of(resource, rtype)
    except ApiError:
        raise conflict("the patch removes or alters the tenant tag", f"{rtype}.meta") from None
    own = tenant_tag(tenant)
    found = False
    for tag in tags:
        if isinstance(tag, dict) and tag.get("system") == TENANT_SYSTEM:  # pyright: ignore[reportUnknownMemberType]
            if tag != own:
                raise conflict("the patch removes or alters the tenant tag", f"{rtype}.meta.tag")
            found = True
    if not found:
        raise conflict("the patch removes or alters the tenant tag", f"{rtype}.meta.tag")


def _split_values(value: str) -> list[str]:
    """Split a search value on unescaped commas."""
    out: list[str] = []
    cur: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            cur.append(ch)
            escaped = True
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _split_token(value: str) -> tuple[str | None, str]:
    """(system or None when there is no unescaped '|', code)."""
    escaped = False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            return value[:i], value[i + 1 :]
    return None, value


def _final_param(name: str) -> tuple[str, str | None]:
    """The last parameter of a chain or _has, and its modifier: ``subject:Patient._tag:not`` -> (_tag, not)."""
    last = name.rsplit(".", 1)[-1]
    if last.startswith("_has:"):
        last = last.split(":")[-1]
        return last, None
    if ":" in last:
        base, modifier = last.split(":", 1)
        return base, modifier
    return last, None


def check_search(
    params: Sequence[tuple[str, str]], tenant: str, known_tenants: Callable[[], Iterable[str]]
) -> None:
    """Rule 7.5.3: a `_tag` naming the tenant system must name the caller's own tenant."""
    tenants: set[str] | None = None
    for name, value in params:
        base, modifier = _final_param(name)
        if base != "_tag":
            continue
        for item in _split_values(value):
            system, code = _split_token(item)
            if system == TENANT_SYSTEM:
                if modifier in ("not", "missing") or code != tenant:
                    raise conflict("the _tag parameter names the tenant system with another tenant", name)
            elif system is None:
                if tenants is None:
                    tenants = set(known_tenants())
                if code in tenants:
                    raise conflict("a system-less _tag may not name a tenant", name)
