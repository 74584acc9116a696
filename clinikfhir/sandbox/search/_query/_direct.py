"""A direct index lookup for the commonest conditional criteria: a few token equalities.

``identifier=system|value``, ``_tag=system|code`` (what ``clinikfhir load`` sends as ``ifNoneExist``),
their OR lists (``_tag=s|c1,s|c2,...``) and their AND are answered by one statement on the token
index, without the compiler, the planner or the paging machinery (a conditional create's usual
look-up). The
answer (ids in id order, the accurate total) is the one the general search gives; anything else
(modifiers, escapes, empty alternatives, result parameters, other kinds, a large match set, a page that
would keep a snapshot) returns None and the caller runs the general search. The tests hold the two
to the same answers.

:func:`surely_unmatched` is the transaction's pre-check of its conditional creates: for the criteria
:func:`lookup` answers, one statement over every type tells which ask for a code no resource holds
(then the search surely finds nothing); it never answers a search, only rules matches out.
"""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from typing import Any

import orjson

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS
from clinikfhir._syntax import tenant_tag_refusal

from .._folds import param_cond, stored_names
from .._model import SearchResult

MAX_TERMS = 4  # AND-ed token equalities answered directly
MAX_ALTERNATIVES = 100  # OR-ed values of one term answered directly
MAX_MATCHES = 1_000  # more matches than this: the general search (which pages and keeps snapshots)
_IGNORED = frozenset({"_format", "_pretty"})
_TAG_LIKE = frozenset({"_tag", "_security"})  # shared by many resources: a poor driver


Term = tuple[str, tuple[tuple[str | None, str], ...]]
"""(param, its alternatives (system or None, code)): a token parameter and the values it ORs."""


def _token_term(rtype: str, name: str, value: str) -> Term | None:
    """(param, alternatives) of ``name=value`` when it is a plain token equality or an OR of them
    (each ``code`` or ``system|code``, no modifier, no escape, no empty alternative), else None."""
    if ":" in name or "." in name or "\\" in value:
        return None
    pdef = SEARCH_PARAMETERS[rtype].get(name)
    if pdef is None or pdef.type != "token" or not pdef.expression or name == "_id":
        return None
    alternatives: list[tuple[str | None, str]] = []
    for alternative in value.split(","):
        system, bar, code = alternative.partition("|")
        if not bar:
            if not alternative:
                return None
            alternatives.append((None, alternative))
        elif not system or not code or "|" in code:
            return None
        else:
            alternatives.append((system, code))
    if len(alternatives) > MAX_ALTERNATIVES:
        return None
    return name, tuple(alternatives)


def _checked_term(
    rtype: str, name: str, value: str, tenant: str, tenant_codes: Callable[[], Collection[str]]
) -> Term | None:
    """The :data:`Term` of ``name=value`` when it is a plain token equality (or an OR of them) that the
    tenant rule lets through, checked as the general search checks it; else None (the general search
    answers, or refuses, it)."""
    term = _token_term(rtype, name, value)
    if term is None or tenant_tag_refusal(name, value, tenant=tenant, tenant_codes=tenant_codes) is not None:
        return None
    return term


def _alternatives(alias: str, alternatives: tuple[tuple[str | None, str], ...], args: list[Any]) -> str:
    """SQL that holds when the token row ``alias`` has one of ``alternatives`` (values go to ``args``)."""
    ors: list[str] = []
    for system, code in alternatives:
        if system is None:
            ors.append(f"{alias}.code = ?")
            args.append(code)
        else:
            ors.append(f"({alias}.code = ? AND {alias}.system = ?)")
            args.extend([code, system])
    return ors[0] if len(ors) == 1 else "(" + " OR ".join(ors) + ")"


def lookup(
    conn: sqlite3.Connection,
    *,
    env: str,
    tenant: str,
    type: str,
    params: Sequence[tuple[str, str]],
    offset: int,
    count: int,
    snapshot: str | bool,
    tenant_codes: Callable[[], Collection[str]],
    limit: int = MAX_MATCHES,
) -> SearchResult | None:
    """The general search's answer to ``params`` when they are 1 to :data:`MAX_TERMS` plain token
    equalities (see the module docstring), else None (also beyond ``limit`` matches). ``type`` must be
    a known resource type."""
    if isinstance(snapshot, str) or count <= 0:
        return None
    terms: list[Term] = []
    for name, value in params:
        if name in _IGNORED:
            continue
        term = _checked_term(type, name, value, tenant, tenant_codes)
        if term is None:
            return None
        terms.append(term)
    if not terms or len(terms) > MAX_TERMS:
        return None
    # drive from the most selective-looking term: a business identifier before a tag
    terms.sort(key=lambda t: t[0] in _TAG_LIKE)
    (param, alternatives), rest = terms[0], terms[1:]
    codes = sorted({code for _, code in alternatives})
    rows_cond, rows_args = param_cond("t0", type, param)
    sql = (
        "SELECT DISTINCT t0.id FROM sp_token t0 INDEXED BY sp_token_code WHERE t0.env = ? AND t0.type = ? "
        f"AND {rows_cond} AND t0.code IN ({', '.join('?' * len(codes))}) AND t0.tenant = ?"
    )
    args: list[Any] = [env, type, *rows_args, *codes, tenant]
    if len(alternatives) > 1 or any(system is not None for system, _ in alternatives):
        sql += " AND " + _alternatives("t0", alternatives, args)
    for n, (param, alternatives) in enumerate(rest, start=1):
        t = f"t{n}"
        rows_cond, rows_args = param_cond(t, type, param)
        sql += (
            f" AND EXISTS (SELECT 1 FROM sp_token {t} WHERE {t}.env = t0.env AND {t}.type = t0.type "
            f"AND {t}.id = t0.id AND {rows_cond}"
        )
        args.extend(rows_args)
        sql += f" AND {_alternatives(t, alternatives, args)})"
    sql += " ORDER BY t0.id LIMIT ?"
    args.append(limit + 1)
    every = [str(row[0]) for row in conn.execute(sql, args)]
    offset = max(0, offset)
    total = len(every)
    if total > limit or (snapshot is True and total > offset + count):
        return None  # the general search pages it (and keeps a snapshot when asked to)
    return SearchResult(ids=every[offset : offset + count], total=total)


# One statement for every asked token: (term key, type, stored param name, system or null, code),
# bound as one JSON list (the text does not depend on how many there are, so it is prepared once).
_PRESENT_SQL = (  # json_extract, not ->>: SQLite before 3.38 has no ->>
    "SELECT DISTINCT json_extract(a.value, '$[0]') FROM json_each(?) a WHERE EXISTS (SELECT 1 FROM sp_token t "
    "INDEXED BY sp_token_code WHERE t.env = ? AND t.type = json_extract(a.value, '$[1]') "
    "AND t.param = json_extract(a.value, '$[2]') AND t.code = json_extract(a.value, '$[4]') AND t.tenant = ? "
    "AND (json_extract(a.value, '$[3]') IS NULL OR t.system = json_extract(a.value, '$[3]')))"
)


def surely_unmatched(
    conn: sqlite3.Connection,
    *,
    env: str,
    tenant: str,
    asks: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    tenant_codes: Callable[[], Collection[str]],
) -> list[bool | None]:
    """Per ask (type, params): True when the general search of ``params`` on ``type`` would answer
    with no match and no error, False when it may match, found by one statement for all the asks (of
    any types); None when the params are not looked at (not what :func:`lookup` answers, or what the
    tenant rule refuses): then the caller asks the search.

    An ask is looked at when its params are 1 to :data:`MAX_TERMS` plain token equalities that the tenant rule
    lets through (:func:`_checked_term`, as for :func:`lookup`) on a known type. Each term then matches only
    resources holding a token row of one of its alternatives under the term's stored names
    (:func:`._folds.stored_names`) in this env and tenant: when some term has no such row at all, nothing can
    match. A conservative test: True only when no row exists; anything found (even in a resource the other terms
    rule out) gives False."""
    rows: list[tuple[int, str, str, str | None, str]] = []
    terms_of: list[range | None] = []
    first = 0
    for rtype, params in asks:
        keys = _terms(rtype, params, tenant, tenant_codes, first, rows)
        if keys is not None:
            first = keys.stop
        terms_of.append(keys)
    if not rows:
        return [None] * len(asks)
    present = {int(row[0]) for row in conn.execute(_PRESENT_SQL, (orjson.dumps(rows), env, tenant))}
    return [None if keys is None else not present.issuperset(keys) for keys in terms_of]


def _terms(
    rtype: str,
    params: Sequence[tuple[str, str]],
    tenant: str,
    tenant_codes: Callable[[], Collection[str]],
    first: int,
    rows: list[tuple[int, str, str, str | None, str]],
) -> range | None:
    """The keys of the terms of one ask (from ``first``), their rows appended to ``rows``; None
    (nothing appended) when the ask is not one :func:`surely_unmatched` looks at."""
    if rtype not in SEARCH_PARAMETERS or not params or len(params) > MAX_TERMS:
        return None
    start = len(rows)
    key = first
    for name, value in params:
        term = _checked_term(rtype, name, value, tenant, tenant_codes)
        names = stored_names(rtype, name) if term is not None else None
        if term is None or names is None:
            del rows[start:]
            return None
        for system, code in term[1]:
            for stored in names:
                rows.append((key, rtype, stored, system, code))
        key += 1
    return range(first, key)
