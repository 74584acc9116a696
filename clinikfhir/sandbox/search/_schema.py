"""The search index tables: one typed table per parameter kind, every row carrying env and tenant.

Table definitions only; :func:`._index.install` creates them and fills them (this module imports
nothing of the engine, so the indexer and the query side both build on it)."""

from __future__ import annotations

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

# Every index table is clustered on (id, param, type, env, grp, seq) (WITHOUT ROWID), which serves
# the per-resource lookups (EXISTS checks, sort keys, replacement on write) with no second b-tree;
# value indexes exist only where a condition can drive a query (equality on token, string, reference,
# uri). Fewer b-trees means fewer pages written per create. The id comes first because a search
# looks rows up by resource thousands of times (a sort key or a condition per match): a key that
# starts with the id is told apart at its first column, not after comparing env and type each time
# (a third less time for a sorted, filtered search at 100k resources).
COLUMNS: dict[str, tuple[str, ...]] = {
    "sp_token": ("system", "code", "text"),
    "sp_string": ("value", "raw"),
    "sp_date": ("low", "high"),
    "sp_number": ("low", "high"),
    "sp_quantity": ("low", "high", "system", "code", "unit"),
    "sp_reference": ("ref_type", "ref_id", "url", "version"),
    "sp_uri": ("uri",),
}
_TYPES = {"low": "REAL", "high": "REAL", "grp": "INTEGER"}


def _table(name: str) -> str:
    values = ", ".join(
        f"{c} {'INTEGER' if name == 'sp_date' and c in ('low', 'high') else _TYPES.get(c, 'TEXT')}"
        for c in COLUMNS[name]
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {name}(env TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, "
        f"param TEXT NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, tenant TEXT NOT NULL, {values}, "
        "PRIMARY KEY(id, param, type, env, grp, seq)) WITHOUT ROWID"
    )


DDL: tuple[str, ...] = (
    # one compact row per live indexed resource: the row every search starts from (the store's
    # resources table carries bodies, too wide to scan); lu = meta.lastUpdated in UTC microseconds
    "CREATE TABLE IF NOT EXISTS sp_resource(env TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, "
    "tenant TEXT NOT NULL, lu INTEGER, PRIMARY KEY(env, type, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS sp_resource_tenant ON sp_resource(env, type, tenant, lu, id)",
    *(_table(name) for name in COLUMNS),
    # _content (every string of the resource) and _text (its narrative), normalised, one row each
    "CREATE TABLE IF NOT EXISTS sp_text(env TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, "
    "param TEXT NOT NULL, tenant TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY(id, param, type, env)) "
    "WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS sp_token_code ON sp_token(env, type, param, code, tenant, system)",
    "CREATE INDEX IF NOT EXISTS sp_date_range ON sp_date(env, type, param, tenant, high, low)",
    "CREATE INDEX IF NOT EXISTS sp_string_value ON sp_string(env, type, param, value, tenant)",
    "CREATE INDEX IF NOT EXISTS sp_reference_target ON sp_reference(env, type, param, ref_id, ref_type, tenant)",
    # absolute and canonical references only (relative ones are matched on ref_type/ref_id)
    "CREATE INDEX IF NOT EXISTS sp_reference_url ON sp_reference(env, type, param, url, tenant) WHERE ref_id IS NULL",
    "CREATE INDEX IF NOT EXISTS sp_uri_value ON sp_uri(env, type, param, uri, tenant)",
)


# Bump when the index layout changes: install() then drops the old index tables and rebuilds them
# from the stored bodies, so a durable database made by an earlier version keeps working.
SCHEMA_VERSION = 7
