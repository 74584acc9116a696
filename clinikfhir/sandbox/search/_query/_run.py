"""Run one type-level search: read the result parameters, compile, plan, sort, page and include."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS
from clinikfhir._syntax import RESULT_PARAMETERS as R4_RESULT_PARAMETERS
from clinikfhir._syntax import SearchSyntaxError, parse_name, tenant_tag_refusal

from .._model import SearchError, SearchResult
from .._snapshots import MAX_IDS, SNAPSHOTS, SnapshotKey
from ._compile import MAX_INCLUDES, MAX_TERMS, Compiler, check_escapes
from ._direct import lookup
from ._include import IncludeSpec, parse_include, resolve_includes
from ._sort import first_key, sort_clause
from ._sql import Sql, bad_value, check_size

_IGNORED = frozenset({"_format", "_pretty"})
_ELEMENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")


def index_tenants(conn: sqlite3.Connection, env: str) -> set[str]:
    """Every tenant code that owns an indexed resource in ``env`` (for the tenant rule)."""
    return {str(row[0]) for row in conn.execute("SELECT DISTINCT tenant FROM sp_resource WHERE env = ?", (env,))}


def _page_ids(
    conn: sqlite3.Connection,
    compiler: Compiler,
    rtype: str,
    where: Sql,
    terms: Sequence[tuple[str, str]],
    sort: str | None,
    want_total: bool,
    limit: int,
    offset: int,
) -> tuple[list[str], int | None]:
    """The ids of ``limit`` matches from ``offset`` in sort order (ties by id), and the total when
    it came for free (one pass that materialises the matches once, counts and sorts them)."""
    if terms and want_total:
        first = "m.k0" if where.keyed else None
        order_terms, order_args = sort_clause(compiler, rtype, sort, "m.id", first=first) if sort else ([], [])
        page = Sql(
            f"m AS MATERIALIZED ({where.sql}) SELECT m.id, (SELECT COUNT(*) FROM m) FROM m ORDER BY "
            + ", ".join([*order_terms, "m.id ASC"])
            + " LIMIT ? OFFSET ?",
            [*where.args, *order_args, limit, offset],
        )
        page = compiler.wrap(page, more=True)
        check_size(page)
        rows = conn.execute(page.sql, page.args).fetchall()
        return [str(r[0]) for r in rows], (int(rows[0][1]) if rows else None)
    alias = where.alias
    lu_expr = f"{alias}.lu" if where.table == "sp_resource" else None
    order_terms, order_args = sort_clause(compiler, rtype, sort, f"{alias}.id", lu_expr) if sort else ([], [])
    page = Sql(
        where.sql + " ORDER BY " + ", ".join([*order_terms, f"{alias}.id ASC"]) + " LIMIT ? OFFSET ?",
        [*where.args, *order_args, limit, offset],
    )
    page = compiler.wrap(page)
    check_size(page)
    return [str(r[0]) for r in conn.execute(page.sql, page.args)], None


def run(
    conn: sqlite3.Connection,
    *,
    env: str,
    tenant: str,
    type: str,
    params: Sequence[tuple[str, str]],
    offset: int,
    count: int,
    lenient: bool,
    snapshot: str | bool = False,
    fast: bool = True,
) -> SearchResult:
    """Answer one type-level search, tenant- and env-scoped, one page at ``offset``.

    ``snapshot``: False pages by offset over the current data; True keeps the ordered matches when
    there is more than one page (the result's ``snapshot`` names them); a snapshot id serves the
    page at ``offset`` from that snapshot when it is still kept (see :mod:`._snapshots` for the
    semantics), else as True.

    ``fast``: answer a few plain token equalities (``identifier=system|value``, ``_tag=...``, the
    usual conditional-create criteria) by one index lookup (:mod:`._direct`), and read the first
    sort key together with a condition on the same rows (:func:`._plan.plan`), with the same answers;
    False always compiles the plain plan (the tests compare the two)."""
    if type not in SEARCH_PARAMETERS:
        raise SearchError(400, "INVALID_PARAMETER", "Unknown resource type")
    if fast:
        answer = lookup(
            conn,
            env=env,
            tenant=tenant,
            type=type,
            params=params,
            offset=offset,
            count=count,
            snapshot=snapshot,
            tenant_codes=lambda: index_tenants(conn, env),
        )
        if answer is not None:
            return answer
    compiler = Compiler(env, tenant, lenient)
    terms: list[tuple[str, str]] = []
    sort: str | None = None
    total_mode = "accurate"
    summary_count = False
    elements: list[str] | None = None
    includes: list[IncludeSpec] = []
    for name, value in params:
        if name in _IGNORED:
            continue
        try:
            parsed = parse_name(name)
        except SearchSyntaxError:
            compiler.unsupported(name, "Malformed search parameter name")
            continue
        base = "" if parsed.links else parsed.code
        if name == "_sort":
            if sort is not None:
                raise SearchError(400, "INVALID_PARAMETER", "Repeated parameter '_sort'")
            sort = value
        elif name == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise bad_value("_total")
            total_mode = value
        elif name == "_summary":
            if value == "count":
                summary_count = True
            elif value != "false":
                compiler.unsupported("_summary", "Unsupported _summary mode")
        elif name == "_elements":
            names = [e.strip() for e in value.split(",") if e.strip()]
            if not all(_ELEMENT_RE.match(e) for e in names):
                raise bad_value("_elements")
            elements = (elements or []) + names
        elif base in ("_include", "_revinclude"):
            includes.append(parse_include(name, value))
            if len(includes) > MAX_INCLUDES:
                raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_INCLUDES} _include/_revinclude parameters")
        elif parsed.links or not base.startswith("_") or base in SEARCH_PARAMETERS[type] or base == "_list":
            terms.append((name, value))
        elif base in R4_RESULT_PARAMETERS:
            compiler.unsupported(name, "Unsupported result parameter")
        else:
            compiler.unsupported(name, "Unknown or unsupported search parameter")
    for name, value in terms:
        check_escapes(name, value)
        reason = tenant_tag_refusal(name, value, tenant=tenant, tenant_codes=lambda: index_tenants(conn, env))
        if reason is not None:
            raise SearchError(403, "TENANT_CONFLICT", f"Search parameter refused: {reason}")
    if len(terms) > MAX_TERMS:
        raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_TERMS} search parameters")
    want_total = total_mode != "none" or summary_count
    # the first sort key read together with a condition on the same rows (see _plan.plan); only
    # where _page_ids materialises the matches (a total is wanted) and a page is read
    sort_key = (
        first_key(type, sort) if fast and sort and terms and want_total and not summary_count and count > 0 else None
    )
    where = compiler.ids_query(type, terms, sort_key)
    total: int | None = None
    ids: list[str] = []
    found: list[tuple[str, str]] = []
    offset = max(0, offset)
    kept: str | None = None
    if not summary_count and count > 0:
        key: SnapshotKey = (env, tenant, type, tuple((n, v) for n, v in params))
        sid = snapshot if isinstance(snapshot, str) else None
        snap = SNAPSHOTS.get(sid, key) if sid is not None else None
        if snap is not None:  # a later page of a snapshot: a slice
            ids, total, kept = list(snap.ids[offset : offset + count]), snap.total, sid
        elif snapshot is not False:
            # the whole ordered match list, once (up to MAX_IDS); kept when there is more than one page
            every, counted = _page_ids(conn, compiler, type, where, terms, sort, want_total, MAX_IDS + 1, 0)
            if len(every) <= MAX_IDS:
                total = len(every)
                ids = every[offset : offset + count]
                if total > offset + count:
                    kept = SNAPSHOTS.put(key, every, total)
            else:
                ids, total = _page_ids(conn, compiler, type, where, terms, sort, want_total, count, offset)
                total = counted if total is None else total
        else:
            ids, total = _page_ids(conn, compiler, type, where, terms, sort, want_total, count, offset)
        if ids and len(ids) < count and total is None:
            total = offset + len(ids)  # a short, non-empty page is the last one
        if includes and ids:
            found = resolve_includes(conn, env, tenant, [(type, i) for i in ids], includes)
    elif sort:
        sort_clause(compiler, type, sort, "id")  # validate the keys even when no page is read
    if total is None and want_total:
        counting = compiler.wrap(Sql(f"SELECT COUNT(*) FROM ({where.sql})", where.args))
        check_size(counting)
        total = int(conn.execute(counting.sql, counting.args).fetchone()[0])
    if not want_total:
        total = None
    return SearchResult(
        ids=ids,
        total=total,
        snapshot=kept,
        includes=found,
        summary_count=summary_count,
        elements=elements,
        warnings=compiler.warnings,
    )
