"""The FHIR store's SQLite layer: schema (interface 5), connections, one writer at a time, versions.

In memory the store has a single connection guarded by one lock. With a file it runs in WAL mode:
one writer connection under the write lock, and one reader connection per thread.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import orjson

from ._http import iso_instant, now_utc

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources(env TEXT, type TEXT, id TEXT, tenant TEXT, version INTEGER,
  last_updated TEXT, deleted INTEGER, body TEXT, PRIMARY KEY(env, type, id));
CREATE TABLE IF NOT EXISTS history(env, type, id, tenant, version, last_updated, deleted, method, body,
  PRIMARY KEY(env, type, id, version));
CREATE INDEX IF NOT EXISTS history_by_type ON history(env, type, tenant, last_updated);
CREATE INDEX IF NOT EXISTS resources_by_tenant ON resources(env, tenant, type, last_updated);
"""


def search_module() -> ModuleType | None:
    """The search engine package (interface 6), or None when it is not installed yet."""
    try:
        from clinikfhir.sandbox import search
    except ImportError:
        return None
    return search


@dataclass(frozen=True, slots=True)
class Current:
    """The current row of a resource."""

    tenant: str
    version: int
    last_updated: str
    deleted: bool
    body: str | None


class Store:
    """SQLite storage of resources and their history. Use :meth:`read` and :meth:`write`."""

    def __init__(self, path: str | None = None, *, index_lag: float = 0.0) -> None:
        if index_lag < 0:
            raise ValueError("index_lag must not be negative")
        self.path = path
        self.index_lag = index_lag
        # with an index lag: versions written by the open transaction, then versions waiting to be indexed
        self._unindexed: list[tuple[str, str, str, str, int]] = []
        self._due: deque[tuple[float, tuple[str, str, str, str, int]]] = deque()
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._last_instant = ""
        self._closed = False
        self._writer = self._connect()
        if path is not None:
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._writer.execute("PRAGMA synchronous=NORMAL")
        self._writer.executescript(SCHEMA)
        latest = self._writer.execute("SELECT MAX(last_updated) FROM history").fetchone()[0]
        self._last_instant = str(latest) if latest else ""
        self.search = search_module()
        if self.search is not None:
            with self.write() as conn:
                self.search.install(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path if self.path is not None else ":memory:",
            isolation_level=None,
            check_same_thread=False,
            timeout=30.0,
        )
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def write(self) -> Generator[sqlite3.Connection, None, None]:
        """The writer connection inside ``BEGIN IMMEDIATE``; committed on success, rolled back on error."""
        with self._write_lock:
            if self._closed:
                raise RuntimeError("the sandbox store is closed")
            conn = self._writer
            if conn.in_transaction:  # nested use (a transaction entry): the outer block commits
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._unindexed.clear()
                raise
            conn.execute("COMMIT")
            if self._unindexed:
                due = time.monotonic() + self.index_lag
                self._due.extend((due, item) for item in self._unindexed)
                self._unindexed.clear()

    @contextmanager
    def read(self) -> Generator[sqlite3.Connection, None, None]:
        """A connection for reading committed data, inside one read transaction (a consistent snapshot)."""
        if self.path is None:
            with self._write_lock:
                if self._closed:
                    raise RuntimeError("the sandbox store is closed")
                yield self._writer
            return
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the sandbox store is closed")
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        if self._write_lock.acquire(blocking=False):
            # the writer is idle, or this thread holds it: read through it so a transaction sees its own writes
            try:
                if self._writer.in_transaction:
                    yield self._writer
                    return
            finally:
                self._write_lock.release()
        conn.execute("BEGIN")  # one snapshot for the whole read (a search and the bodies it returns)
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def next_instant(self) -> str:
        """A fresh lastUpdated instant, strictly later than every earlier one (call under the write lock)."""
        stamp = iso_instant(now_utc())
        if stamp <= self._last_instant:
            last = _dt.datetime.strptime(self._last_instant, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.UTC)
            stamp = iso_instant(last + _dt.timedelta(microseconds=1))
        self._last_instant = stamp
        return stamp

    @staticmethod
    def current(conn: sqlite3.Connection, env: str, rtype: str, rid: str) -> Current | None:
        row = conn.execute(
            "SELECT tenant, version, last_updated, deleted, body FROM resources WHERE env=? AND type=? AND id=?",
            (env, rtype, rid),
        ).fetchone()
        if row is None:
            return None
        return Current(row[0], int(row[1]), row[2], bool(row[3]), row[4])

    def put_version(
        self,
        conn: sqlite3.Connection,
        *,
        env: str,
        rtype: str,
        rid: str,
        tenant: str,
        version: int,
        last_updated: str,
        method: str,
        body: str | None,
        resource: dict[str, Any] | None,
    ) -> None:
        """Write one version (``body`` None = deleted) and reindex it, inside the caller's transaction."""
        deleted = 1 if body is None else 0
        conn.execute(
            "INSERT OR REPLACE INTO resources(env, type, id, tenant, version, last_updated, deleted, body)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (env, rtype, rid, tenant, version, last_updated, deleted, body),
        )
        conn.execute(
            "INSERT INTO history(env, type, id, tenant, version, last_updated, deleted, method, body)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (env, rtype, rid, tenant, version, last_updated, deleted, method, body),
        )
        if self.search is None:
            return
        if self.index_lag > 0:
            self._unindexed.append((env, rtype, rid, tenant, version))
        else:
            self.search.reindex(conn, env=env, type=rtype, id=rid, tenant=tenant, resource=resource)

    def catch_up(self) -> None:
        """Index the versions whose index lag has passed (a no-op without a lag).

        With ``index_lag`` the search index trails the store like the real gateway's (gateway.md §10):
        reads see a write at once, searches only once it is indexed, and a deleted resource lingers in
        search results until its deletion is indexed."""
        if self.search is None or not self._due:
            return
        with self._write_lock:
            if self._writer.in_transaction:  # inside a request's transaction: catch up on the next search
                return
            self._index_due()

    def _index_due(self) -> None:
        assert self.search is not None
        with self.write() as conn:
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, (env, rtype, rid, tenant, version) = self._due.popleft()
                row = conn.execute(
                    "SELECT body FROM history WHERE env=? AND type=? AND id=? AND version=?",
                    (env, rtype, rid, version),
                ).fetchone()
                body = row[0] if row is not None else None
                resource = orjson.loads(body) if body is not None else None
                self.search.reindex(conn, env=env, type=rtype, id=rid, tenant=tenant, resource=resource)

    def close(self) -> None:
        """Close every connection. Later use raises RuntimeError."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
