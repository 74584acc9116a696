"""``_sort``: ORDER BY terms on each key's aggregated index value, missing values last."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

from .._folds import param_cond
from .._model import SearchError
from .._schema import TABLES
from ._compile import MAX_SORT_KEYS, Compiler

# Each key is a lookup of one resource's rows on the table's primary key (id, param, type, env, ...).
# The unary ``+`` keeps SQLite's MIN/MAX optimisation from choosing a value index instead (e.g.
# sp_token_code on (env, type, param, code)), which walks every row of the parameter for each match:
# O(matches x rows), seconds for a token sort over 2,000 matches.
_SORT_EXPR = {
    "token": ("MIN(+{x}.code)", "MAX(+{x}.code)"),
    "string": ("MIN(+{x}.value)", "MAX(+{x}.value)"),
    "date": ("MIN(+{x}.low)", "MAX(+{x}.low)"),
    "number": ("MIN(+{x}.low)", "MAX(+{x}.high)"),
    "quantity": ("MIN(+{x}.low)", "MAX(+{x}.high)"),
    "reference": ("MIN(+{x}.url)", "MAX(+{x}.url)"),
    "uri": ("MIN(+{x}.uri)", "MAX(+{x}.uri)"),
}


def first_key(rtype: str, value: str) -> tuple[str, str, str] | None:
    """The first ``_sort`` key of ``value`` as (table, param, aggregate on ``{x}``) when it is a
    search parameter's key (not ``_id`` or ``_lastUpdated``), for :func:`._plan.plan`; else None."""
    key = value.split(",", 1)[0].strip()
    desc = key.startswith("-")
    code = key[1:] if desc else key
    pdef = SEARCH_PARAMETERS.get(rtype, {}).get(code)
    if pdef is None or pdef.type not in _SORT_EXPR or not pdef.expression or code in ("_id", "_lastUpdated"):
        return None
    return TABLES[pdef.type], code, _SORT_EXPR[pdef.type][1 if desc else 0]


def sort_clause(
    compiler: Compiler,
    rtype: str,
    value: str,
    id_expr: str,
    lu_expr: str | None = None,
    first: str | None = None,
) -> tuple[list[str], list[Any]]:
    """ORDER BY terms for ``_sort`` (several keys, ``-`` descending, missing values last) on the
    resource whose id is ``id_expr`` (``lu_expr``: its sp_resource.lu column, when in scope;
    ``first``: the first key's value, when the query already selects it, see :func:`first_key`)."""
    terms: list[str] = []
    args: list[Any] = []
    keys = value.split(",")
    if len(keys) > MAX_SORT_KEYS:
        raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_SORT_KEYS} keys in '_sort'")
    for n, key in enumerate(keys):
        key = key.strip()
        desc = key.startswith("-")
        code = key[1:] if desc else key
        direction = "DESC" if desc else "ASC"
        if code == "_id":
            terms.append(f"{id_expr} {direction}")
            continue
        if code == "_lastUpdated" and lu_expr is not None:
            terms.append(f"{lu_expr} {direction} NULLS LAST")
            continue
        if code == "_lastUpdated":
            lu = f"(SELECT s.lu FROM sp_resource s WHERE s.env = ? AND s.type = ? AND s.id = {id_expr})"
            terms.append(f"{lu} {direction} NULLS LAST")
            args.extend([compiler.env, rtype])
            continue
        pdef = SEARCH_PARAMETERS.get(rtype, {}).get(code)
        if pdef is None or pdef.type not in _SORT_EXPR or not pdef.expression:
            compiler.unsupported("_sort", "Unknown or unsortable _sort key")
            continue
        if n == 0 and first is not None:
            terms.append(f"{first} {direction} NULLS LAST")
            continue
        x = compiler.alias()
        agg = _SORT_EXPR[pdef.type][1 if desc else 0].format(x=x)
        rows_cond, rows_args = param_cond(x, rtype, code)
        sub = (
            f"(SELECT {agg} FROM {TABLES[pdef.type]} {x} WHERE {x}.env = ? AND {x}.type = ? "
            f"AND {x}.id = {id_expr} AND {rows_cond})"
        )
        terms.append(f"{sub} {direction} NULLS LAST")
        args.extend([compiler.env, rtype, *rows_args])
    return terms, args
