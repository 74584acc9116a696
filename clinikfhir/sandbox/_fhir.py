"""The FHIR store's resource interactions: create, read, vread, update, patch, delete.

Each takes the caller (env + tenant) and a connection from :class:`Store`; writes run inside the
caller's write transaction, so a transaction Bundle can chain them and roll them all back. Bodies
are stored as canonical JSON text and served from that text.
"""

from __future__ import annotations

import copy
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import jsonpatch  # type: ignore[import-untyped, unused-ignore]
import orjson

from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir._wire import ID_PATTERN as ID_RE
from clinikfhir._wire import MAX_BODY_BYTES
from clinikfhir.validation import has_errors, to_operation_outcome, validate

from ._http import FHIR_JSON, ErrorIssue, GatewayError, arr, check_json, dumps, issue_error, loads_exact, obj
from ._store import Current, Store
from ._tenant import check_patched, conflict, inject, tenant_tag

TYPE_RE = re.compile(r"[A-Z][A-Za-z]{1,63}")
PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
MAX_RESOURCE_BYTES = MAX_BODY_BYTES
"""The largest resource stored, as its canonical JSON (the same 1 MiB as the request body cap)."""
MAX_PATCH_OPS = 256
"""The most operations one JSON Patch may carry."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the environment and tenant of the key."""

    env: str
    tenant: str


Kind = Literal["read", "write"]
"""What an interaction does to stored data: the key scope it needs (gateway.md §2)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks, where links point, and the scope check the gateway applies to every Bundle entry."""

    caller: Caller
    origin: str
    """The public origin (``http://host:port``) every ``fullUrl`` and link is built on."""
    authorize: Callable[[Kind], None]
    """Raises the gateway's 403 when the key's scope does not allow that kind of interaction."""

    @property
    def base(self) -> str:
        """The absolute FHIR base: ``{origin}/v1/fhir``."""
        return f"{self.origin}/v1/fhir"


_READ_OPERATIONS = frozenset({"_search", "$everything"})


def interaction_kind(method: str, segs: Sequence[str]) -> Kind:
    """``read`` for GET and for the reads sent as POST (``_search``, ``$everything``), else ``write``.

    A Bundle at the root is a write; each of its entries is then checked on its own."""
    if method == "GET":
        return "read"
    if method == "POST" and len(segs) in (2, 3) and segs[-1] in _READ_OPERATIONS:
        return "read"
    return "write"


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of a resource as stored (``body`` None = deleted)."""

    rtype: str
    rid: str
    version: int
    last_updated: str
    body: str | None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def last_modified(self) -> str:
        """``meta.lastUpdated`` as an HTTP date."""
        return http_date(self.last_updated)

    def headers(self, *, location: bool = False) -> list[tuple[str, str]]:
        out = [("ETag", self.etag), ("Last-Modified", self.last_modified)]
        if location:
            out.append(("Location", f"/v1/fhir/{self.rtype}/{self.rid}/_history/{self.version}"))
        return out


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(instant: str) -> str:
    """The store's instant (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) as an HTTP date (RFC 9110 IMF-fixdate).

    >>> http_date("2024-03-01T09:05:07.123456Z")
    'Fri, 01 Mar 2024 09:05:07 GMT'
    """
    day = date(int(instant[0:4]), int(instant[5:7]), int(instant[8:10]))
    return f"{_DAYS[day.weekday()]}, {instant[8:10]} {_MONTHS[day.month - 1]} {instant[0:4]} {instant[11:19]} GMT"


class _NoBody:
    """The type of :data:`NO_BODY`."""

    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY = _NoBody()
"""The body of a request that sent none (distinct from a JSON ``null``)."""


@dataclass(slots=True)
class Result:
    """What a FHIR interaction produced, before the gateway adds its headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=lambda: [])
    stored: Stored | None = None
    content_type: str = FHIR_JSON


@dataclass(slots=True)
class EntryHeaders:
    """The per-request (or per-Bundle-entry) conditional headers."""

    if_match: str | None = None
    if_none_exist: str | None = None
    prefer: str | None = None


Return = Literal["representation", "minimal", "OperationOutcome"]
"""What a write answers with (FHIR R4 http.html#return): the resource, nothing, or an OperationOutcome."""


def return_preference(prefer: str | None) -> Return:
    """The ``return`` preference of a ``Prefer`` header (RFC 7240; several preferences may be
    separated by commas or semicolons); ``representation``, the default, when absent or unknown."""
    if prefer:
        for token in prefer.replace(";", ",").split(","):
            name, _, value = token.partition("=")
            if name.strip().lower() == "return":
                value = value.strip().strip('"')
                if value == "minimal":
                    return "minimal"
                if value == "OperationOutcome":
                    return "OperationOutcome"
                return "representation"
    return "representation"


def outcome_of(status: int) -> dict[str, Any]:
    """The informational OperationOutcome a write answers with under ``return=OperationOutcome``."""
    text = {201: "The resource was created", 200: "The request succeeded"}.get(status, "The request was processed")
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
    }


def returned(result: Result, prefer: str | None) -> Result:
    """A create, update or patch answer shaped by the request's ``Prefer: return=...``: the stored
    resource (default), no body (``minimal``: status and headers only) or an OperationOutcome."""
    wanted = return_preference(prefer)
    if wanted == "representation" or result.stored is None:
        return result
    headers = [*result.headers, ("Preference-Applied", f"return={wanted}")]
    if wanted == "minimal":
        return Result(result.status, b"", headers, result.stored)
    return Result(result.status, dumps(outcome_of(result.status)), headers, result.stored)


def not_found() -> GatewayError:
    """The one 404: identical for absent, deleted, other tenant and other environment."""
    return GatewayError(404, "NOT_FOUND", "Resource not found")


def check_type(rtype: str) -> None:
    if rtype not in RESOURCE_TYPES:
        raise GatewayError(400, "INVALID_RESOURCE_TYPE", "The path does not name a FHIR R4 resource type")


def check_id(rid: str) -> None:
    if rid.strip(".") == "":
        raise GatewayError(400, "INVALID_PARAMETER", "A resource id may not consist of dots only")
    if ID_RE.fullmatch(rid) is None:
        raise GatewayError(400, "INVALID_PARAMETER", "A resource id has 1-128 characters from A-Z a-z 0-9 - _ .")


def validation_error(issues: list[dict[str, Any]], message: str = "The resource is not valid FHIR R4") -> GatewayError:
    return GatewayError(422, "VALIDATION_ERROR", message, issues=issues, fhir=True)


def structural(message: str, path: str) -> GatewayError:
    return validation_error([ErrorIssue("error", "structure", message, path).as_json()], message)


def validated(resource: dict[str, Any], rtype: str) -> None:
    """Raise 422 with every error issue (paths, no values) when ``resource`` is not valid R4.

    Only errors decide, so only errors are checked (``level="error"`` evaluates no warning-only rule).
    """
    issues = validate(resource, level="error")
    if has_errors(issues):
        outcome = to_operation_outcome([i for i in issues if i.is_error])
        raise validation_error(outcome["issue"])


def as_resource(body: Any, rtype: str) -> dict[str, Any]:
    """Check a request body is a resource of type ``rtype`` (422 otherwise)."""
    if not isinstance(body, dict):
        raise structural("The body must be a JSON object holding a FHIR resource", rtype)
    resource: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType]
    actual = resource.get("resourceType")
    if actual is None:
        raise structural("resourceType is missing", f"{rtype}.resourceType")
    if actual != rtype:
        raise structural("resourceType does not match the type in the path", f"{rtype}.resourceType")
    return resource


def canonical(
    resource: dict[str, Any], rtype: str, rid: str, version: int, last_updated: str
) -> tuple[str, dict[str, Any]]:
    """Set id and meta, order resourceType/id/meta first; return (JSON text, the resource as
    ``orjson.loads`` reads that text back).

    The resource itself is returned when it holds no Decimal: then its values are what orjson reads
    back (strings, ints, floats, which orjson writes in their shortest exact spelling), so the text
    is not decoded again. A Decimal (kept digit for digit in the text) reads back as a float."""
    meta = dict(obj(resource.get("meta")) or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = last_updated
    ordered: dict[str, Any] = {"resourceType": rtype, "id": rid, "meta": meta}
    for key, value in resource.items():
        if key not in ordered:
            ordered[key] = value
    exact: list[object] = []

    def default(value: object) -> orjson.Fragment:
        exact.append(value)
        return orjson.Fragment(dumps(value))  # the one encoding of a Decimal (raises on anything else)

    text = orjson.dumps(ordered, default=default).decode("utf-8")
    return text, (orjson.loads(text) if exact else ordered)


def prepare_new(caller: Caller, rtype: str, body: Any) -> dict[str, Any]:
    """The outside-the-lock half of a create: shape, tenant tag (7.5.1), validation."""
    resource = as_resource(body, rtype)
    resource = dict(resource)
    resource.pop("id", None)  # the sandbox mints ids (§7.7)
    inject(resource, rtype, caller.tenant)
    validated(resource, rtype)
    return resource


def _write(
    store: Store,
    conn: sqlite3.Connection,
    caller: Caller,
    rtype: str,
    rid: str,
    version: int,
    method: str,
    resource: dict[str, Any] | None,
) -> Stored:
    stamp = store.next_instant()
    text: str | None = None
    indexed: dict[str, Any] | None = None
    if resource is not None:
        text, indexed = canonical(resource, rtype, rid, version, stamp)
        if len(text.encode("utf-8")) > MAX_RESOURCE_BYTES:
            raise too_large(rtype)
    store.put_version(
        conn,
        env=caller.env,
        rtype=rtype,
        rid=rid,
        tenant=caller.tenant,
        version=version,
        last_updated=stamp,
        method=method,
        body=text,
        resource=indexed,
    )
    return Stored(rtype, rid, version, stamp, text)


def new_id() -> str:
    """A fresh server-assigned resource id: a random UUID (version 4), as AWS HealthLake assigns them
    (gateway.md: "the sandbox mints UUIDv4 ids"). Unguessable, unique without any look-up, and
    telling nothing about when the resource was made."""
    return uuid4_text(os.urandom(16))


def uuid4_text(random: bytes) -> str:
    """``str(uuid.UUID(bytes=random, version=4))`` (16 random bytes, with the version and variant
    bits set), written without building the UUID object."""
    raw = bytearray(random)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def create(
    store: Store, conn: sqlite3.Connection, caller: Caller, rtype: str, prepared: dict[str, Any], rid: str | None = None
) -> Stored:
    """Insert a prepared resource (see :func:`prepare_new`) with a fresh UUID id, version 1."""
    return _write(store, conn, caller, rtype, rid or new_id(), 1, "POST", prepared)


def owned(conn: sqlite3.Connection, caller: Caller, rtype: str, rid: str) -> Current:
    """The live current row of a resource the caller owns, else the one 404."""
    cur = Store.current(conn, caller.env, rtype, rid)
    if cur is None or cur.deleted or cur.tenant != caller.tenant or cur.body is None:
        raise not_found()
    return cur


def read(conn: sqlite3.Connection, caller: Caller, rtype: str, rid: str) -> Stored:
    cur = owned(conn, caller, rtype, rid)
    return Stored(rtype, rid, cur.version, cur.last_updated, cur.body)


def vread(conn: sqlite3.Connection, caller: Caller, rtype: str, rid: str, vid: str) -> Stored:
    """A past version; 404 when absent, not the caller's, or a deletion marker."""
    if not vid.isdigit() or len(vid) > 12:
        raise not_found()
    cur = Store.current(conn, caller.env, rtype, rid)
    if cur is None or cur.tenant != caller.tenant:
        raise not_found()
    past = Store.version(conn, caller.env, rtype, rid, int(vid))
    if past is None or past.body is None or past.tenant != caller.tenant:
        raise not_found()
    return Stored(rtype, rid, past.version, past.last_updated, past.body)


def check_if_match(if_match: str | None, version: int) -> None:
    """409 VERSION_CONFLICT when an If-Match header names another version."""
    if if_match is None:
        return
    value = if_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if value != str(version):
        raise GatewayError(
            409, "VERSION_CONFLICT", "If-Match does not name the current version of the resource", fhir=False
        )


def _tenant_on_update(resource: dict[str, Any], rtype: str, tenant: str) -> None:
    inject(resource, rtype, tenant)


def update(
    store: Store,
    conn: sqlite3.Connection,
    caller: Caller,
    rtype: str,
    rid: str,
    body: Any,
    if_match: str | None,
) -> Stored:
    """PUT: a full replacement of an existing resource the caller owns (no upsert)."""
    resource = dict(as_resource(body, rtype))
    body_id = resource.get("id")
    if body_id is None:
        raise structural("id is missing: an update carries the id of the resource", f"{rtype}.id")
    if body_id != rid:
        raise structural("id does not match the id in the path", f"{rtype}.id")
    _tenant_on_update(resource, rtype, caller.tenant)
    cur = owned(conn, caller, rtype, rid)
    check_if_match(if_match, cur.version)
    validated(resource, rtype)
    return _write(store, conn, caller, rtype, rid, cur.version + 1, "PUT", resource)


def too_large(rtype: str) -> GatewayError:
    """413: the resource (as a patch or a transaction made it) would exceed the 1 MiB cap."""
    message = "The resource would exceed 1 MiB"
    return GatewayError(
        413,
        "PAYLOAD_TOO_LARGE",
        message,
        issues=[ErrorIssue("error", "too-costly", message, rtype).as_json()],
        fhir=True,
    )


def _json_size(value: Any) -> int:
    return len(dumps(value))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: objects merge recursively, null removes, everything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out: dict[str, Any] = dict(target) if isinstance(target, dict) else {}  # pyright: ignore[reportUnknownArgumentType]
    for key, value in patch.items():  # pyright: ignore[reportUnknownVariableType]
        if value is None:
            out.pop(key, None)  # pyright: ignore[reportUnknownArgumentType]
        else:
            out[key] = merge_patch(out.get(key), value)  # pyright: ignore[reportUnknownArgumentType]
    return out


def _json_patch(doc: dict[str, Any], ops: list[Any], rtype: str) -> Any:
    """Apply RFC 6902 ``ops`` one by one, with bounded work: at most :data:`MAX_PATCH_OPS` operations,
    and a running size of the document checked after each (a chain of doubling ``copy`` operations stops
    as soon as the document would pass 1 MiB, not after building it)."""
    if len(ops) > MAX_PATCH_OPS:
        raise GatewayError(
            422,
            "VALIDATION_ERROR",
            f"A JSON Patch may carry at most {MAX_PATCH_OPS} operations",
            issues=[ErrorIssue("error", "too-costly", "too many patch operations", rtype).as_json()],
            fhir=True,
        )
    size = _json_size(doc)
    for i, item in enumerate(ops):
        op = obj(item)
        if op is None or op.get("op") not in PATCH_OPS or not isinstance(op.get("path"), str):
            raise structural(
                f"JSON Patch operation {i} needs an op (add, remove, replace, move, copy, test) and a path",
                f"{rtype}",
            )
        kind = op["op"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise structural(f"JSON Patch operation {i} ({kind}) needs a value", f"{rtype}")
        if kind in ("move", "copy") and not isinstance(op.get("from"), str):
            raise structural(f"JSON Patch operation {i} ({kind}) needs a from path", f"{rtype}")
        try:
            if kind in ("add", "copy", "replace"):
                added = op["value"] if kind != "copy" else jsonpatch.JsonPointer(op["from"]).resolve(doc)
                size += _json_size(added)
                if kind == "replace":
                    size -= _json_size(jsonpatch.JsonPointer(op["path"]).resolve(doc))
                if size > MAX_RESOURCE_BYTES:
                    raise too_large(rtype)
            elif kind == "remove":
                size -= _json_size(jsonpatch.JsonPointer(op["path"]).resolve(doc))
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise structural(f"JSON Patch operation {i} (test) failed", f"{rtype}") from None
        except (
            jsonpatch.JsonPatchException,
            jsonpatch.JsonPointerException,
            KeyError,
            IndexError,
            TypeError,
            ValueError,
        ):
            raise structural(f"JSON Patch operation {i} ({kind}): its path does not resolve", f"{rtype}") from None
    return doc


def patch(
    store: Store,
    conn: sqlite3.Connection,
    caller: Caller,
    rtype: str,
    rid: str,
    body: Any,
    if_match: str | None,
) -> Stored:
    """PATCH by body shape (§7.6): an array is RFC 6902 JSON Patch, an object is a merge."""
    if not isinstance(body, (list, dict)):
        raise structural("A PATCH body is a JSON Patch array or a partial resource object", rtype)
    cur = owned(conn, caller, rtype, rid)
    check_if_match(if_match, cur.version)
    current: dict[str, Any] = loads_exact(cur.body or "{}")  # the stored text, decimals exact
    if isinstance(body, list):
        result = _json_patch(copy.deepcopy(current), list(body), rtype)  # pyright: ignore[reportUnknownArgumentType]
        if not isinstance(result, dict):
            raise structural("The patched document is not a resource", rtype)
        patched: dict[str, Any] = result  # pyright: ignore[reportUnknownVariableType]
        check_patched(patched, rtype, caller.tenant)
    else:
        partial: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType]
        if "resourceType" in partial and partial["resourceType"] != rtype:
            raise structural("resourceType does not match the type in the path", f"{rtype}.resourceType")
        if "id" in partial and partial["id"] != rid:
            raise structural("id does not match the id in the path", f"{rtype}.id")
        meta = obj(partial.get("meta"))
        tags = arr(meta.get("tag")) if meta is not None else None
        if tags is not None:
            probe: dict[str, Any] = {"meta": {"tag": tags}}
            inject(probe, rtype, caller.tenant)  # raises 403 on a foreign tenant tag
        merged = merge_patch(current, partial)
        if not isinstance(merged, dict):
            raise structural("The patched document is not a resource", rtype)
        patched = merged  # pyright: ignore[reportUnknownVariableType]
        check_patched(patched, rtype, caller.tenant)  # one rule for both: the tenant tag must survive
    if patched.get("resourceType") != rtype:
        raise structural("the patch may not change resourceType", f"{rtype}.resourceType")
    if patched.get("id") != rid:
        raise structural("the patch may not change id", f"{rtype}.id")
    check_json(patched)  # a patch can nest deeper or build what no request body could carry
    inject(patched, rtype, caller.tenant)  # defensive re-injection; a foreign tag was refused above
    validated(patched, rtype)
    return _write(store, conn, caller, rtype, rid, cur.version + 1, "PATCH", patched)


def delete(
    store: Store, conn: sqlite3.Connection, caller: Caller, rtype: str, rid: str, if_match: str | None
) -> Stored:
    """Mark an owned resource deleted (a new version in history without a body)."""
    cur = owned(conn, caller, rtype, rid)
    check_if_match(if_match, cur.version)
    return _write(store, conn, caller, rtype, rid, cur.version + 1, "DELETE", None)


__all__ = [
    "NO_BODY",
    "Caller",
    "EntryHeaders",
    "Kind",
    "Principal",
    "Result",
    "Stored",
    "check_id",
    "check_type",
    "conflict",
    "create",
    "delete",
    "interaction_kind",
    "issue_error",
    "not_found",
    "owned",
    "patch",
    "prepare_new",
    "read",
    "return_preference",
    "returned",
    "tenant_tag",
    "update",
    "vread",
]
