"""Argument checks and the tenant guard: everything decided about a call before it is built.

Used by :mod:`clinikfhir.bundle` (transaction entries) and by the core (every call); it sits on the
floor of ``bundle`` and ``patch`` and imports neither the core nor the clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import httpx

from clinikfhir._tenant_guard import guard_tenant_params
from clinikfhir._wire import ID_PATTERN, MAX_BODY_BYTES, TENANT_SYSTEM
from clinikfhir.errors import InvalidArgumentError, TenantGuardError
from clinikfhir.patch import touches_tenant_tag

if TYPE_CHECKING:
    from clinikfhir.models import Resource

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"

ParamsLike = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


def is_text(value: object) -> bool:
    """A non-empty str (callers may not be type-checked, so arguments are checked at run time)."""
    return isinstance(value, str) and bool(value)


def check_id(value: object, what: str = "id") -> str:
    """An id as the vendor SDK allows it (``[A-Za-z0-9._-]{1,128}``) minus ``.`` and ``..``."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    if not ID_PATTERN.fullmatch(value) or value in (".", ".."):
        reason = (
            "longer than 128 characters" if len(value) > 128 else "only letters, digits, '-', '_' and '.' are allowed"
        )
        raise InvalidArgumentError(f"{what} is not a valid resource id: {reason}")
    return value


def _header_safe(value: str) -> bool:
    """Printable ASCII only: a header value can never smuggle a line break."""
    return all(32 <= ord(c) < 127 for c in value)


def check_id_like_query(query: str) -> str:
    """A conditional-create query (``identifier=...``) must not filter on the tenant tag."""
    if not is_text(query) or not _header_safe(query):
        raise InvalidArgumentError("if_none_exist must be a search query such as 'identifier=system|value'")
    guard_params(list(httpx.QueryParams(query).multi_items()))
    return query


def etag_for(resource: Resource, if_match: str | bool) -> str | None:
    """The ``If-Match`` value: ``W/"<meta.versionId>"`` when True (None if the resource has no version)."""
    if if_match is False:
        return None
    if if_match is True:
        version = resource.meta.versionId if resource.meta is not None else None
        return f'W/"{version}"' if version else None
    if not is_text(if_match) or not _header_safe(if_match):
        raise InvalidArgumentError("if_match must be a version id, an ETag, True or False")
    if if_match.isalnum():
        return f'W/"{if_match}"'
    return if_match


def resource_json(resource: Resource) -> dict[str, Any]:
    """A model as JSON (dict), through the model layer's serialiser."""
    from clinikfhir.models import decode, dump_bytes

    data = decode(dump_bytes(resource))
    if not isinstance(data, dict):  # pragma: no cover - dump always writes an object
        raise InvalidArgumentError("the resource did not serialise to a JSON object")
    return cast("dict[str, Any]", data)


def encode_body(data: Any) -> bytes:
    from clinikfhir.models import encode

    try:
        body = encode(data)  # Decimal values are written digit for digit
    except TypeError as exc:
        raise InvalidArgumentError(f"the body cannot be sent as JSON ({exc})") from None
    return cap_body(body)


def cap_body(body: bytes) -> bytes:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidArgumentError(
            f"the request body is {len(body)} bytes; the gateway accepts at most {MAX_BODY_BYTES}"
        )
    return body


def tenant_codes(data: Any) -> list[str]:
    """The tenant-tag codes in a resource's JSON ``meta.tag`` (normally zero or one)."""
    if not isinstance(data, dict):
        return []
    meta = cast("dict[str, Any]", data).get("meta")
    if not isinstance(meta, dict):
        return []
    tags = cast("dict[str, Any]", meta).get("tag")
    if not isinstance(tags, list):
        return []
    return [
        str(cast("dict[str, Any]", t).get("code"))
        for t in cast("list[object]", tags)
        if isinstance(t, dict) and cast("dict[str, Any]", t).get("system") == TENANT_SYSTEM
    ]


def _check_tenant_tags(codes: Sequence[str | None], *, create: bool, where: str) -> None:
    """Tenant-system tag codes on a written resource: none on a create, at most one on an update."""
    if not codes:
        return
    if create:
        raise TenantGuardError(
            f"{where}.meta.tag carries a tag of the tenant system {TENANT_SYSTEM}: a create may not carry one; "
            "the gateway owns tenancy and tags every resource it stores itself: remove the tag"
        )
    if len(codes) > 1:
        raise TenantGuardError(
            f"{where}.meta.tag carries {len(codes)} tags of the tenant system {TENANT_SYSTEM}; a resource as read "
            "carries exactly one, and the gateway owns tenancy: keep only the tag it was read with"
        )


def guard_params(params: Sequence[tuple[str, str]]) -> None:
    """Refuse a search that filters on the tenant tag (the gateway appends that filter itself): the
    builder's own verdict, :func:`clinikfhir._tenant_guard.guard_tenant_params`."""
    guard_tenant_params(params)


def normalise_params(params: ParamsLike) -> list[tuple[str, str]]:
    """Query parameters as ordered (name, value) pairs; None values skipped, booleans as true/false."""
    if params is None:
        return []
    items: list[tuple[str, Any]] = []
    if isinstance(params, Mapping):
        for k, v in params.items():
            if isinstance(v, (list, tuple)):
                items.extend((k, x) for x in cast("Sequence[Any]", v))
            else:
                items.append((k, v))
    else:
        items = list(params)
    out: list[tuple[str, str]] = []
    for name, value in items:
        if not is_text(name):
            raise InvalidArgumentError("search parameter names must be non-empty strings")
        if value is None:
            continue
        out.append((name, "true" if value is True else "false" if value is False else str(value)))
    return out


def clean_path(path: str) -> tuple[str, list[tuple[str, str]]]:
    """The raw ``request()`` path, checked: no scheme, no dot segments, no fragment; query split off."""
    if not is_text(path) or not path.strip():
        raise InvalidArgumentError("path must be a non-empty string such as '/Patient/123'")
    path = path.strip()
    if "://" in path or path.startswith("//") or "\\" in path or "#" in path or any(ord(c) < 33 for c in path):
        raise InvalidArgumentError(
            "path must be a relative FHIR path such as '/Patient/123' (no scheme, host or fragment)"
        )
    if not path.startswith("/"):
        path = "/" + path
    raw_path, _, query = path.partition("?")
    segments = raw_path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        raise InvalidArgumentError("path must not contain '.' or '..' segments")
    return raw_path, list(httpx.QueryParams(query).multi_items()) if query else []


def etag_for_str(if_match: str) -> str:
    """An explicit ``If-Match``: a bare version id becomes ``W/"<id>"``."""
    if not is_text(if_match) or not _header_safe(if_match):
        raise InvalidArgumentError("if_match must be a version id or an ETag")
    return f'W/"{if_match}"' if if_match.isalnum() else if_match


def guard_resource(resource: Resource, *, create: bool, where: str = "") -> None:
    """The tenant guard on a written resource; the gateway owns tenancy (gateway.md §7.5).

    A create may carry no tag of the tenant system at all. An update may carry the one tenant tag
    the resource was read with (the gateway checks it is the caller's own), never several.
    """
    meta = resource.meta
    tags = [t.code for t in (meta.tag or []) if t.system == TENANT_SYSTEM] if meta is not None else []
    if tags:
        from clinikfhir.bundle import type_name

        _check_tenant_tags(tags, create=create, where=where or type_name(type(resource)))


def guard_json_body(body: Any, *, create: bool) -> None:
    """The tenant guard on a raw JSON body: a JSON Patch may not touch ``/meta/tag``; a resource
    dict carries no tenant tag on a create and at most one otherwise."""
    if isinstance(body, list):
        for op in cast("list[object]", body):
            if isinstance(op, dict):
                o = cast("dict[str, Any]", op)
                for key in ("path", "from"):
                    p = o.get(key)
                    if isinstance(p, str) and touches_tenant_tag(p) and o.get("op") != "test":
                        raise TenantGuardError("a patch touching /meta/tag is refused: the gateway owns the tenant tag")
    elif isinstance(body, dict):
        data = cast("dict[str, Any]", body)
        _check_tenant_tags(tenant_codes(data), create=create, where=str(data.get("resourceType") or "the body"))
