"""Fixtures: the sandbox's real store (``clinikfhir.sandbox._store.Store``, in memory) with the engine
installed, behind a small helper that writes resources the way the sandbox does (the resources
row, its history row and its index rows in one transaction) and runs searches on it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clinikfhir.sandbox import search
from clinikfhir.sandbox._store import Store as SandboxStore

TENANT_SYSTEM = "https://clinikapi.com/tenant"


class Store:
    """The real store, plus the helpers the engine tests write and search with."""

    def __init__(self) -> None:
        self.store = SandboxStore()
        self._clock = 0

    @property
    def conn(self) -> sqlite3.Connection:
        """The store's connection (in memory: one connection; tests are single-threaded)."""
        with self.store.read() as conn:
            return conn

    def close(self) -> None:
        self.store.close()

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
        rtype, rid = str(body["resourceType"]), str(body["id"])
        with self.store.write() as conn:
            current = self.store.current(conn, env, rtype, rid)
            self.store.put_version(
                conn,
                env=env,
                rtype=rtype,
                rid=rid,
                tenant=tenant,
                version=current.version + 1 if current is not None else 1,
                last_updated=stamp,
                method="PUT" if current is not None else "POST",
                body=orjson.dumps(body).decode(),
                resource=body,
            )
        return body

    def delete(self, rtype: str, rid: str, *, tenant: str = "org_a", env: str = "test") -> None:
        with self.store.write() as conn:
            current = self.store.current(conn, env, rtype, rid)
            assert current is not None
            self._clock += 1
            self.store.put_version(
                conn,
                env=env,
                rtype=rtype,
                rid=rid,
                tenant=tenant,
                version=current.version + 1,
                last_updated=f"2026-01-01T00:00:00.{self._clock % 1000000:06d}Z",
                method="DELETE",
                body=None,
                resource=None,
            )

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
        with self.store.read() as conn:
            return search.run(
                conn,
                env=env,
                tenant=tenant,
                type=rtype,
                params=params,  # type: ignore[arg-type]
                offset=offset,
                count=count,
                lenient=lenient,
            )


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store()
    yield s
    s.close()


@pytest.fixture
def conn(store: Store) -> sqlite3.Connection:
    return store.conn
