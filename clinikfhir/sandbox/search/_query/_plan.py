"""Plan one resource set: which condition drives the query, which are checked per candidate."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._sql import Sql


def plan(alias: str, env: str, rtype: str, tenant: str, conds: Sequence[Sql]) -> Sql:
    """SQL selecting the ids of live ``rtype`` resources of (env, tenant) matching every condition.

    Drive from the first selective condition (an equality before a range); check the others per
    candidate row with correlated EXISTS lookups on the (id, param, type, env) keys. A simple
    driver is read straight from its index table under the resource's alias (its rows carry env,
    tenant, type and id), so no per-candidate lookup of the resource row is needed."""
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
    for cond in conds:
        if cond is driver and cond.driver is not None:
            continue
        if cond.direct is not None and source.startswith("sp_resource "):
            where.append(cond.direct.sql)
            args.extend(cond.direct.args)
            continue
        chosen = cond if cond is driver or cond.exists is None else cond.exists
        where.append(chosen.sql)
        args.extend(chosen.args)
    return Sql(f"{select} FROM {source} WHERE " + " AND ".join(where), args, a, table=source.split()[0])
