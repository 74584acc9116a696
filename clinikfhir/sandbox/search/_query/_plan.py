"""Plan one resource set: which condition drives the query, which are checked per candidate."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._folds import param_cond
from ._sql import Sql, on


def plan(
    alias: str,
    env: str,
    rtype: str,
    tenant: str,
    conds: Sequence[Sql],
    key: tuple[str, str, str] | None = None,
    new_alias: Callable[[], str] | None = None,
) -> Sql:
    """SQL selecting the ids of live ``rtype`` resources of (env, tenant) matching every condition.

    Drive from the first selective condition (an equality before a range); check the others per
    candidate row with correlated EXISTS lookups on the (id, param, type, env) keys. A simple
    driver is read straight from its index table under the resource's alias (its rows carry env,
    tenant, type and id), so no per-candidate lookup of the resource row is needed.

    ``key`` (table, param, aggregate on ``{x}``, e.g. ``MAX(+{x}.low)``): the first sort key. When a
    checked (not driving, not negated) condition reads those same rows, its EXISTS and the key come
    from one join of the resource's rows instead of two lookups: ``GROUP BY id HAVING`` the condition
    holds on some row, the key aggregated over all of them (the same rows the key's own lookup
    reads); the result is ``keyed`` and selects the key as ``k0``."""
    a = alias
    where = [f"{a}.env = ?", f"{a}.type = ?", f"{a}.tenant = ?"]
    args: list[Any] = [env, rtype, tenant]
    driver = next((c for c in conds if c.selective and not c.weak), None)
    driver = driver or next((c for c in conds if c.selective), None)
    source = f"sp_resource {a}"
    select = f"SELECT {a}.id"
    if driver is not None and driver.driver is not None:
        source = f"{driver.table} {a}{driver.hint}"
        select = f"SELECT DISTINCT {a}.id"
        where = [driver.driver.sql]
        args = list(driver.driver.args)
    fused: Sql | None = None
    if key is not None and new_alias is not None:
        fused = next(
            (
                c
                for c in conds
                if c.rows is not None
                and c.rows[:2] == key[:2]
                and not (c is driver and c.driver is not None)
                and not (c.direct is not None and source.startswith("sp_resource "))
            ),
            None,
        )
    join_args: list[Any] = []
    having = ""
    having_args: list[Any] = []
    if fused is not None and fused.rows is not None and key is not None and new_alias is not None:
        table, param, match = fused.rows
        s = new_alias()
        select = f"SELECT {a}.id AS id, {key[2].format(x=s)} AS k0"
        rows_cond, join_args = param_cond(s, rtype, param)
        source += f" JOIN {table} {s} ON {s}.id = {a}.id AND {rows_cond} AND {s}.type = {a}.type AND {s}.env = {a}.env"
        having = f" GROUP BY {a}.id HAVING MAX({on(match.sql, s)})"
        having_args = list(match.args)
    for cond in conds:
        if cond is fused or (cond is driver and cond.driver is not None):
            continue
        if cond.direct is not None and source.startswith("sp_resource "):
            where.append(cond.direct.sql)
            args.extend(cond.direct.args)
            continue
        chosen = cond if cond is driver or cond.exists is None else cond.exists
        where.append(chosen.sql)
        args.extend(chosen.args)
    return Sql(
        f"{select} FROM {source} WHERE " + " AND ".join(where) + having,
        [*join_args, *args, *having_args],
        a,
        table=source.split()[0],
        keyed=fused is not None,
    )
