"""The search index tables: one typed table per parameter kind, every row carrying env and tenant."""

from __future__ import annotations

import sqlite3

# kind -> table; composite parameters store their components' rows under "<code>#<n>" with a group
# number that ties the components of one element together.
TABLES: dict[str, str] = {
    "token": "sp_token",
    "string": "sp_string",
    "date": "sp_date",
    "number": "sp_number",
    "quantity": "sp_quantity",
    "reference": "sp_reference",
    "uri": "sp_uri",
}

_COMMON = (
    "env TEXT NOT NULL, tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, "
    "param TEXT NOT NULL, grp INTEGER NOT NULL"
)

DDL: tuple[str, ...] = (
    # one compact row per live indexed resource: the row every search starts from (the store's
    # resources table carries bodies, too wide to scan); lu = meta.lastUpdated in UTC microseconds
    "CREATE TABLE IF NOT EXISTS sp_resource(env TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, "
    "tenant TEXT NOT NULL, lu INTEGER, PRIMARY KEY(env, type, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS sp_resource_tenant ON sp_resource(env, type, tenant, lu, id)",
    f"CREATE TABLE IF NOT EXISTS sp_token({_COMMON}, system TEXT, code TEXT, text TEXT)",
    "CREATE INDEX IF NOT EXISTS sp_token_code ON sp_token(env, type, param, code, tenant, system, id)",
    "CREATE INDEX IF NOT EXISTS sp_token_res ON sp_token(env, type, id, param)",
    f"CREATE TABLE IF NOT EXISTS sp_string({_COMMON}, value TEXT, raw TEXT)",
    "CREATE INDEX IF NOT EXISTS sp_string_value ON sp_string(env, type, param, value, tenant, id)",
    "CREATE INDEX IF NOT EXISTS sp_string_res ON sp_string(env, type, id, param, value)",
    f"CREATE TABLE IF NOT EXISTS sp_date({_COMMON}, low INTEGER, high INTEGER)",
    "CREATE INDEX IF NOT EXISTS sp_date_low ON sp_date(env, type, param, tenant, low, high, id)",
    "CREATE INDEX IF NOT EXISTS sp_date_res ON sp_date(env, type, id, param, low, high)",
    f"CREATE TABLE IF NOT EXISTS sp_number({_COMMON}, low REAL, high REAL)",
    "CREATE INDEX IF NOT EXISTS sp_number_low ON sp_number(env, type, param, tenant, low, high, id)",
    "CREATE INDEX IF NOT EXISTS sp_number_res ON sp_number(env, type, id, param, low, high)",
    f"CREATE TABLE IF NOT EXISTS sp_quantity({_COMMON}, low REAL, high REAL, system TEXT, code TEXT, unit TEXT)",
    "CREATE INDEX IF NOT EXISTS sp_quantity_low ON sp_quantity(env, type, param, tenant, low, high, id)",
    "CREATE INDEX IF NOT EXISTS sp_quantity_res ON sp_quantity(env, type, id, param, low, high)",
    f"CREATE TABLE IF NOT EXISTS sp_reference({_COMMON}, ref_type TEXT, ref_id TEXT, url TEXT, version TEXT)",
    "CREATE INDEX IF NOT EXISTS sp_reference_target ON sp_reference(env, type, param, ref_id, ref_type, tenant, id)",
    "CREATE INDEX IF NOT EXISTS sp_reference_url ON sp_reference(env, type, param, url, tenant, id)",
    "CREATE INDEX IF NOT EXISTS sp_reference_res ON sp_reference(env, type, id, param, ref_type, ref_id)",
    "CREATE INDEX IF NOT EXISTS sp_reference_rev ON sp_reference(env, ref_id, ref_type, tenant)",
    f"CREATE TABLE IF NOT EXISTS sp_uri({_COMMON}, uri TEXT)",
    "CREATE INDEX IF NOT EXISTS sp_uri_value ON sp_uri(env, type, param, uri, tenant, id)",
    "CREATE INDEX IF NOT EXISTS sp_uri_res ON sp_uri(env, type, id, param)",
)


def install(conn: sqlite3.Connection) -> None:
    """Create the index tables and their SQL indexes (idempotent).

    A store that already holds live resources but no index rows (a database made before the
    engine existed) is indexed from the stored bodies, in the caller's transaction.
    """
    for statement in DDL:
        conn.execute(statement)
    if conn.execute("SELECT 1 FROM sp_resource LIMIT 1").fetchone() is not None:
        return
    has_store = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'").fetchone()
    if has_store is None:
        return
    import orjson

    from ._index import reindex

    rows = conn.execute("SELECT env, type, id, tenant, body FROM resources WHERE deleted = 0 AND body IS NOT NULL")
    for env, rtype, rid, tenant, body in rows.fetchall():
        reindex(conn, env=env, type=rtype, id=rid, tenant=tenant, resource=orjson.loads(body))
