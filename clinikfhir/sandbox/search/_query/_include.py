"""``_include`` / ``_revinclude`` (with ``:iterate`` and ``*``): parsing and resolution, tenant-scoped."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

from .._folds import params_cond, reference_pairs
from .._model import SearchError
from ._compile import revinclude_pairs

_MAX_INCLUDE_ROUNDS = 8


@dataclass(frozen=True)
class IncludeSpec:
    """One parsed ``_include``/``_revinclude`` value."""

    source: str  # the resource type holding the reference ("*" for _include=*)
    param: str  # reference parameter code, or "*"
    target: str | None
    reverse: bool
    iterate: bool


def parse_include(name: str, value: str) -> IncludeSpec:
    """Parse ``Type:param[:Target]`` (or ``*``); anything else is a 400 naming the parameter."""
    base, _, modifier = name.partition(":")
    if modifier not in ("", "iterate", "recurse"):
        raise SearchError(400, "INVALID_PARAMETER", f"Unknown modifier on '{base}'")
    reverse = base == "_revinclude"
    iterate = modifier in ("iterate", "recurse")
    if value == "*":
        return IncludeSpec("*", "*", None, reverse, iterate)
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise SearchError(400, "INVALID_PARAMETER", f"Malformed value for '{base}'")
    source, param = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    params = SEARCH_PARAMETERS.get(source)
    if params is None:
        raise SearchError(400, "INVALID_PARAMETER", f"Unknown resource type in '{base}'")
    if param != "*":
        pdef = params.get(param)
        if pdef is None or pdef.type != "reference":
            raise SearchError(400, "INVALID_PARAMETER", f"Unknown reference parameter in '{base}'")
        if target is not None and target not in pdef.targets:
            raise SearchError(400, "INVALID_PARAMETER", f"Target type not allowed in '{base}'")
    return IncludeSpec(source, param, target, reverse, iterate)


def _reference_params(rtype: str) -> list[str]:
    return sorted(c for c, p in SEARCH_PARAMETERS.get(rtype, {}).items() if p.type == "reference" and p.expression)


def resolve_includes(
    conn: sqlite3.Connection, env: str, tenant: str, sources: list[tuple[str, str]], specs: list[IncludeSpec]
) -> list[tuple[str, str]]:
    """The (type, id) of resources included by ``specs`` from ``sources``, live, in this tenant,
    excluding the sources themselves; ``:iterate`` specs also run on what was included."""
    seen: set[tuple[str, str]] = set(sources)
    found: list[tuple[str, str]] = []
    frontier = list(sources)
    first = True
    for _ in range(_MAX_INCLUDE_ROUNDS):
        active = [s for s in specs if first or s.iterate]
        if not active or not frontier:
            break
        new: list[tuple[str, str]] = []
        for spec in active:
            for hit in _include_once(conn, env, tenant, frontier, spec):
                if hit not in seen:
                    seen.add(hit)
                    new.append(hit)
        found.extend(new)
        frontier = new
        first = False
    return found


def _include_once(
    conn: sqlite3.Connection, env: str, tenant: str, frontier: list[tuple[str, str]], spec: IncludeSpec
) -> list[tuple[str, str]]:
    by_type: dict[str, list[str]] = {}
    for rtype, rid in frontier:
        by_type.setdefault(rtype, []).append(rid)
    hits: list[tuple[str, str]] = []
    for rtype, ids in sorted(by_type.items()):
        ids_json = _json_list(ids)
        if not spec.reverse:
            if spec.source not in ("*", rtype):
                continue
            params = _reference_params(rtype) if spec.param == "*" else [spec.param]
            if not params:
                continue
            rows_cond, rows_args = params_cond("i", rtype, params)
            sql = (
                "SELECT DISTINCT i.ref_type, i.ref_id FROM sp_reference i JOIN sp_resource r ON r.env = i.env "
                "AND r.type = i.ref_type AND r.id = i.ref_id AND r.tenant = ? "
                "WHERE i.env = ? AND i.type = ? AND i.tenant = ? AND i.id IN (SELECT value FROM json_each(?)) "
                f"AND {rows_cond} AND i.ref_id IS NOT NULL"
            )
            args: list[Any] = [tenant, env, rtype, tenant, ids_json, *rows_args]
            if spec.target:
                sql += " AND i.ref_type = ?"
                args.append(spec.target)
            sql += " ORDER BY i.ref_type, i.ref_id"
        else:
            if spec.source == "*":
                sql = (
                    "SELECT DISTINCT i.type, i.id FROM json_each(?) pr CROSS JOIN sp_reference i ON i.env = ? "
                    "AND i.type = json_extract(pr.value, '$[0]') AND i.param = json_extract(pr.value, '$[1]') "
                    "JOIN sp_resource r ON r.env = i.env AND r.type = i.type AND r.id = i.id AND r.tenant = ? "
                    "WHERE i.ref_id IN (SELECT value FROM json_each(?)) AND i.ref_type = ? AND i.tenant = ? "
                    "ORDER BY i.type, i.id"
                )
                listed = [(pair.partition(":")[0], pair.partition(":")[2]) for pair in revinclude_pairs(rtype)]
                pairs = json.dumps([list(p) for p in reference_pairs(listed, rtype)])
                args = [pairs, env, tenant, ids_json, rtype, tenant]
            else:
                if spec.target is not None and spec.target != rtype:
                    continue
                params = _reference_params(spec.source) if spec.param == "*" else [spec.param]
                rows_cond, rows_args = params_cond("i", spec.source, params)
                sql = (
                    "SELECT DISTINCT i.type, i.id FROM sp_reference i JOIN sp_resource r ON r.env = i.env "
                    "AND r.type = i.type AND r.id = i.id AND r.tenant = ? "
                    f"WHERE i.env = ? AND i.type = ? AND i.tenant = ? AND {rows_cond} "
                    "AND i.ref_type = ? AND i.ref_id IN (SELECT value FROM json_each(?)) ORDER BY i.id"
                )
                args = [tenant, env, spec.source, tenant, *rows_args, rtype, ids_json]
        hits.extend((str(t), str(i)) for t, i in conn.execute(sql, args))
    return hits


def _json_list(items: list[str]) -> str:
    return json.dumps(items)
