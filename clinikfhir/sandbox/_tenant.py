"""Tenant isolation rules (gateway.md §7): the tenant tag on writes, and `_tag` checks on searches.

Every rule fails loudly with 403 TENANT_CONFLICT; no message echoes a foreign tenant code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from clinikfhir._syntax import tenant_tag_refusal
from clinikfhir._wire import TENANT_SYSTEM

from ._http import ErrorIssue, GatewayError, obj


def tenant_tag(tenant: str) -> dict[str, Any]:
    """The canonical tenant coding."""
    return {"system": TENANT_SYSTEM, "code": tenant}


def conflict(message: str, expression: str) -> GatewayError:
    return GatewayError(
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
        raise GatewayError(
            422,
            "VALIDATION_ERROR",
            "meta must be an object",
            issues=[ErrorIssue("error", "structure", "meta must be an object", f"{rtype}.meta").as_json()],
        )
    tags: Any = meta.get("tag")
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise GatewayError(
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
    except GatewayError:
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


def check_search(params: Sequence[tuple[str, str]], tenant: str, known_tenants: Callable[[], Iterable[str]]) -> None:
    """Rule 7.5.3, the one tenant rule (:func:`clinikfhir._syntax.tenant_tag_refusal`) with the
    caller's tenant and every known tenant code: 403 TENANT_CONFLICT naming the parameter."""
    codes: set[str] | None = None

    def tenant_codes() -> set[str]:
        nonlocal codes
        if codes is None:
            codes = set(known_tenants())
        return codes

    for name, value in params:
        reason = tenant_tag_refusal(name, value, tenant=tenant, tenant_codes=tenant_codes)
        if reason is not None:
            raise conflict(f"Search parameter refused: {reason}", name[:100])
