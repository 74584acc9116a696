"""Fixtures: a sqlite3 connection with the interface-5 store schema and the engine installed, and a
tiny store that writes resources and reindexes them in one transaction, as the sandbox does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clinikfhir.sandbox import search

STORE_DDL = (
    "CREATE TABLE resources(env TEXT, type TEXT, id TEXT, tenant TEXT, version INTEGER, last_updated TEXT, "
    "deleted INTEGER, body TEXT, PRIMARY KEY(env, type, id))",
    "CREATE TABLE history(env, type, id, tenant, version, last_updated, deleted, method, body, "
    "PRIMARY KEY(env, type, id, version))",
)
TENANT_SYSTEM = "https://clinikapi.com/tenant"


class Store:
    """Writes like the sandbox store: resources row + index rows in the same transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._clock = 0

    def put(
        self, resource: dict[str, Any], *, tenant: str = "org_a", env: str = "test", last_updated: str | None = None
    ) -> dict[str, Any]:
        body = dict(resource)
        self._clock += 1
        stamp = last_updated or f"2026-01-01T00:00:{self._clock // 1000000:02d}.{self._clock % 1000000:06d}Z"
        meta = dict(body.get("meta") or {})
        tags = [t for t in meta.get("tag", []) if t.get("system") != TENANT_SYSTEM]
        meta["tag"] = [*tags, {"system": TENANT_SYSTEM, "code": tenant}]
        meta["lastUpdated"] = stamp
        body["meta"] = meta
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, 1, ?, 0, ?)",
                (env, body["resourceType"], body["id"], tenant, stamp, orjson.dumps(body).decode()),
            )
            search.reindex(self.conn, env=env, type=body["resourceType"], id=body["id"], tenant=tenant, resource=body)
        return body

    def delete(self, rtype: str, rid: str, *, tenant: str = "org_a", env: str = "test") -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE resources SET deleted = 1, body = NULL WHERE env = ? AND type = ? AND id = ?", (env, rtype, rid)
            )
            search.reindex(self.conn, env=env, type=rtype, id=rid, tenant=tenant, resource=None)

    def ids(
        self,
        rtype: str,
        query: str | list[tuple[str, str]],
        *,
        tenant: str = "org_a",
        env: str = "test",
        count: int = 1000,
        offset: int = 0,
        lenient: bool = False,
    ) -> list[str]:
        return self.run(rtype, query, tenant=tenant, env=env, count=count, offset=offset, lenient=lenient).ids

    def run(
        self,
        rtype: str,
        query: str | list[tuple[str, str]],
        *,
        tenant: str = "org_a",
        env: str = "test",
        count: int = 1000,
        offset: int = 0,
        lenient: bool = False,
    ) -> search.SearchResult:
        params = [tuple(p.split("=", 1)) for p in query.split("&") if p] if isinstance(query, str) else query
        return search.run(
            self.conn,
            env=env,
            tenant=tenant,
            type=rtype,
            params=params,  # type: ignore[arg-type]
            offset=offset,
            count=count,
            lenient=lenient,
        )


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("BEGIN")
    for ddl in STORE_DDL:
        connection.execute(ddl)
    search.install(connection)
    search.install(connection)  # idempotent
    connection.execute("COMMIT")
    connection.isolation_level = ""
    yield connection
    connection.close()


@pytest.fixture
def store(conn: sqlite3.Connection) -> Store:
    return Store(conn)
