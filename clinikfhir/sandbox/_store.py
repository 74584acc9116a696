"""The FHIR store's SQLite layer: schema (interface 5), connections, one writer at a time, versions.

The store runs in WAL mode: one writer connection under the write lock, and one reader connection
per thread, so reads never queue behind a long write. "In memory" (``path=None``) is served the same
way from a private temporary database file (on tmpfs where there is one), written without fsync and
deleted on :meth:`Store.close` (or once the store and every connection to it are gone, or at
interpreter exit): nothing persists and each store is fresh, but readers are as fair as with a file.
A process killed before it could clean up (SIGKILL) leaves nothing either: a watcher process
(:class:`_Reaper`, ``/bin/sh``) deletes every private file of its owner once the owner is gone.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import os
import sqlite3
import subprocess
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Generator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import orjson

from . import search
from ._clock import Clock, SystemClock
from ._http import iso_instant

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources(env TEXT, type TEXT, id TEXT, tenant TEXT, version INTEGER,
  last_updated TEXT, deleted INTEGER, body TEXT, PRIMARY KEY(env, type, id));
CREATE TABLE IF NOT EXISTS history(env, type, id, tenant, version, last_updated, deleted, method, body,
  PRIMARY KEY(env, type, id, version));
CREATE INDEX IF NOT EXISTS history_by_type ON history(env, type, tenant, last_updated);
DROP INDEX IF EXISTS resources_by_tenant;
"""
# resources_by_tenant(env, tenant, type, last_updated) served no query (a current row is read by its
# key; searches start from the index tables) and cost a b-tree insert per write: files that have it
# lose it on open.


WAL_AUTOCHECKPOINT = 4_000
"""Pages a database file's WAL grows by before the writer checkpoints it (SQLite's default is 1,000).

A create dirties a page of about ten b-trees (the resource, its history and its index rows); with
the default a checkpoint, which copies the pages back and fsyncs, came every ~90 creates and cost
more than the creates themselves. Four times fewer checkpoints also copy each hot page back once for
many commits. 4,000 frames still fit one segment of the WAL index (4,096), so a read looks a page up
in one hash table, and the pause of one checkpoint stays well under 0.1 s; 10,000 saved little more
on creates and made reads after a burst of writes slower. The WAL of a file store stays under about
16 MiB.

A private store (in memory) checkpoints as rarely: a checkpoint there syncs nothing, but copies every page
the WAL holds back into the file, and with SQLite's default a hot page was copied back every few
transactions (34,800 write calls for load's 887 resources in the in-process benchmark, 31,000 with 4,000)."""


WRITER_CACHE_KIB = 8 * 1024
"""The writer connection's page cache (SQLite's default is 2 MiB).

A transaction of a hundred creates touches a few hundred pages of about ten b-trees (the resource, its
history and its index rows), spread over them by the random ids; with the default cache most of those
pages had been evicted since the last transaction and were read again from the file or the WAL
(10,500 read calls for those 887 resources, 2,600 with 8 MiB)."""


class OverBudget(Exception):
    """The request's time budget (:meth:`Store.budget`) ran out between two store calls."""


@dataclass(frozen=True, slots=True)
class Current:
    """The current row of a resource."""

    tenant: str
    version: int
    last_updated: str
    deleted: bool
    body: str | None


@dataclass(frozen=True, slots=True)
class Version:
    """One row of a resource's history (``body`` None = deleted)."""

    rtype: str
    rid: str
    tenant: str
    version: int
    last_updated: str
    deleted: bool
    method: str
    body: str | None


class Store:
    """SQLite storage of resources and their history. Use :meth:`read` and :meth:`write`."""

    def __init__(self, path: str | None = None, *, index_lag: float = 0.0, clock: Clock | None = None) -> None:
        if not index_lag >= 0:
            raise ValueError("index_lag must not be negative")
        self.path = path
        """The database file, or None for a private temporary one (see :attr:`file`)."""
        self.file = path if path is not None else _private_file()
        """The file SQLite opens: ``path``, or the private temporary file of an in-memory store."""
        # an in-memory store's file (and its -wal/-shm) goes on close, or once neither the store nor
        # any of its connections is left (each connection holds the token), or at interpreter exit
        self._token = _Token()
        self._discard = weakref.finalize(self._token, _remove_database, self.file) if path is None else None
        self.index_lag = index_lag
        self.clock: Clock = clock or SystemClock()
        # with an index lag: versions written by the open transaction, then versions waiting to be indexed
        self._unindexed: list[tuple[str, str, str, str, int]] = []
        self._due: deque[tuple[float, tuple[str, str, str, str, int]]] = deque()
        # index rows of the open write transaction, inserted together (before commit or a search)
        self._batch = search.IndexBatch()
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._last_instant = ""
        self._closed = False
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        # a private file needs no durability: never fsync (a crash loses nothing anyone can reopen)
        self._writer.execute("PRAGMA synchronous=NORMAL" if path is not None else "PRAGMA synchronous=OFF")
        # fewer, larger checkpoints (of a file store: each one ends in an fsync of the database file)
        self._writer.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        self._writer.executescript(SCHEMA)
        latest = self._writer.execute("SELECT MAX(last_updated) FROM history").fetchone()[0]
        self._last_instant = str(latest) if latest else ""
        with self.write() as conn:
            search.install(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.file,
            isolation_level=None,
            check_same_thread=False,
            timeout=30.0,
            factory=_Connection,
        )
        conn.token = self._token
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def write(self) -> Generator[sqlite3.Connection, None, None]:
        """The writer connection inside ``BEGIN IMMEDIATE``; committed on success, rolled back on error."""
        self.check_budget()
        with self._write_lock:
            if self._closed:
                raise RuntimeError("the sandbox store is closed")
            conn = self._writer
            if conn.in_transaction:  # nested use (a transaction entry): the outer block commits
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                with self._guard(conn):
                    yield conn
                    self._batch.flush(conn)
            except BaseException:
                if conn.in_transaction:  # an interrupted write may already have rolled back
                    conn.execute("ROLLBACK")
                self._batch.clear()
                self._unindexed.clear()
                raise
            conn.execute("COMMIT")
            if self._unindexed:
                due = self.clock.monotonic() + self.index_lag
                self._due.extend((due, item) for item in self._unindexed)
                self._unindexed.clear()

    @contextmanager
    def writer_if_free(self) -> Generator[bool, None, None]:
        """Hold the write lock for the block when no other thread holds it right now (yields True),
        else hold nothing (yields False). Inside a True block this thread's :meth:`write` and
        :meth:`read` never wait for another writer (the lock is re-entrant). Do not await inside the
        block: an event loop's other tasks share the thread."""
        got = self._write_lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                self._write_lock.release()

    @contextmanager
    def read(self) -> Generator[sqlite3.Connection, None, None]:
        """A connection for reading committed data, inside one read transaction (a consistent snapshot)."""
        self.check_budget()
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
                    with self._guard(self._writer):
                        self._batch.flush(self._writer)
                        yield self._writer
                    return
            finally:
                self._write_lock.release()
        conn.execute("BEGIN")  # one snapshot for the whole read (a search and the bodies it returns)
        try:
            with self._guard(conn):
                yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def budget(self, seconds: float | None) -> Generator[None, None, None]:
        """Bound the SQLite work of this thread's store calls in the block to ``seconds`` (None: unbounded).

        Past the deadline the running statement is interrupted (``sqlite3.OperationalError``,
        "interrupted") and its write transaction rolled back."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = None if seconds is None else self.clock.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    def check_budget(self) -> None:
        """Raise :class:`OverBudget` when this thread's deadline has passed."""
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is not None and self.clock.monotonic() > deadline:
            raise OverBudget

    @contextmanager
    def _guard(self, conn: sqlite3.Connection) -> Generator[None, None, None]:
        """Interrupt ``conn``'s statements once this thread's deadline has passed (outermost use only)."""
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None or getattr(self._local, "guarding", False):
            yield
            return
        clock = self.clock

        def over() -> int:
            return 1 if clock.monotonic() > deadline else 0

        conn.set_progress_handler(over, 1000)
        self._local.guarding = True
        try:
            yield
        finally:
            conn.set_progress_handler(None, 0)
            self._local.guarding = False

    def next_instant(self) -> str:
        """A fresh lastUpdated instant, strictly later than every earlier one (call under the write lock)."""
        stamp = iso_instant(_dt.datetime.fromtimestamp(self.clock.time(), _dt.UTC))
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
        self.check_budget()
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
        if self.index_lag > 0:
            self._unindexed.append((env, rtype, rid, tenant, version))
        else:
            # a first version has no index rows to replace; its rows are inserted with the others
            search.reindex(
                conn,
                env=env,
                type=rtype,
                id=rid,
                tenant=tenant,
                resource=resource,
                fresh=version == 1,
                batch=self._batch,
            )

    def catch_up(self) -> None:
        """Index the versions whose index lag has passed (a no-op without a lag).

        With ``index_lag`` the search index trails the store like the real gateway's (gateway.md §10):
        reads see a write at once, searches only once it is indexed, and a deleted resource lingers in
        search results until its deletion is indexed.

        Called before every search: inside this thread's write transaction it first inserts the index
        rows the transaction has queued, so the search sees them."""
        if self._batch and self._write_lock.acquire(blocking=False):
            try:
                if self._writer.in_transaction:
                    self._batch.flush(self._writer)
            finally:
                self._write_lock.release()
        if not self._due:
            return
        with self._write_lock:
            if self._writer.in_transaction:  # inside a request's transaction: catch up on the next search
                return
            self._index_due()

    def _index_due(self) -> None:
        with self.budget(None), self.write() as conn:  # indexing owes nothing to the request's budget
            now = self.clock.monotonic()
            while self._due and self._due[0][0] <= now:
                _, (env, rtype, rid, tenant, version) = self._due.popleft()
                row = conn.execute(
                    "SELECT body FROM history WHERE env=? AND type=? AND id=? AND version=?",
                    (env, rtype, rid, version),
                ).fetchone()
                body = row[0] if row is not None else None
                resource = orjson.loads(body) if body is not None else None
                search.reindex(conn, env=env, type=rtype, id=rid, tenant=tenant, resource=resource)

    @staticmethod
    def version(conn: sqlite3.Connection, env: str, rtype: str, rid: str, version: int) -> Version | None:
        """One version of a resource from its history, or None."""
        row = conn.execute(
            "SELECT tenant, last_updated, deleted, method, body FROM history"
            " WHERE env=? AND type=? AND id=? AND version=?",
            (env, rtype, rid, version),
        ).fetchone()
        if row is None:
            return None
        body = None if row[2] or row[4] is None else str(row[4])
        return Version(rtype, rid, str(row[0]), version, str(row[1]), bool(row[2]), str(row[3]), body)

    @staticmethod
    def history_page(
        conn: sqlite3.Connection,
        *,
        env: str,
        tenant: str,
        rtype: str,
        rid: str | None,
        since: str | None,
        offset: int,
        count: int,
    ) -> tuple[int, list[Version]]:
        """(total, one page) of a type's or a resource's history in ``tenant``, newest first."""
        where = "env=? AND type=? AND tenant=?"
        args: list[Any] = [env, rtype, tenant]
        if rid is not None:
            where += " AND id=?"
            args.append(rid)
        if since is not None:
            where += " AND last_updated>=?"
            args.append(since)
        total = int(conn.execute(f"SELECT COUNT(*) FROM history WHERE {where}", args).fetchone()[0])  # noqa: S608
        rows = conn.execute(
            f"SELECT id, version, last_updated, deleted, method, body FROM history WHERE {where}"  # noqa: S608
            " ORDER BY last_updated DESC, version DESC LIMIT ? OFFSET ?",
            [*args, count, offset],
        ).fetchall()
        page = [
            Version(rtype, str(r[0]), tenant, int(r[1]), str(r[2]), bool(r[3]), str(r[4]), None if r[3] else str(r[5]))
            for r in rows
        ]
        return total, page

    @staticmethod
    def tenants(conn: sqlite3.Connection) -> set[str]:
        """Every tenant that owns stored data (in any environment)."""
        return {str(row[0]) for row in conn.execute("SELECT DISTINCT tenant FROM history")}

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
        if self._discard is not None:
            self._discard()


class _Token:
    """Held by a store and each of its connections: the private file lives as long as any of them."""


class _Connection(sqlite3.Connection):
    """A connection that keeps its store's private database file (if any) alive."""

    token: _Token | None = None


_SHM = "/dev/shm"  # noqa: S108 - the directory of private mkstemp files (mode 0600), not a fixed name
_SHM_ROOM = 1 << 30  # tmpfs is used only with this much room (containers often give it 64 MiB)


def _private_file() -> str:
    """A fresh, empty database file only this process knows of: in ``$TMPDIR`` when it is set, else
    on tmpfs (``/dev/shm``) when it has room, else in the system's temporary directory."""
    where: str | None = None
    if not os.environ.get("TMPDIR") and os.path.isdir(_SHM) and os.access(_SHM, os.W_OK):
        room = os.statvfs(_SHM)
        if room.f_bavail * room.f_frsize >= _SHM_ROOM:
            where = _SHM
    fd, name = tempfile.mkstemp(prefix="clinikfhir-sandbox-", suffix=".db", dir=where)
    os.close(fd)
    _REAPER.watch(name)
    return name


# Reads file names, one a line, until its input closes (the owner exited, however it ended: the
# kernel closes a killed process's pipes), then deletes each with its WAL companions.
_REAPER_SCRIPT = (
    'while IFS= read -r n; do set -- "$@" "$n"; done; '
    'for n in "$@"; do rm -f -- "$n" "$n-wal" "$n-shm" "$n-journal"; done'
)


class _Reaper:
    """One watcher process per owner process that deletes the owner's private database files after
    the owner is gone, even when it was killed without running any cleanup (SIGKILL, OOM kill).

    The watcher is ``/bin/sh`` in a session of its own (a signal to the owner's process group
    does not reach it), reading the names on a pipe that only the owner holds. Without ``/bin/sh``
    (not POSIX) the files go on close, collection and interpreter exit only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner = 0

    def watch(self, name: str) -> None:
        """Have the watcher delete ``name`` (and its -wal, -shm, -journal) once this process is gone."""
        if os.name != "posix" or "\n" in name or not os.path.exists("/bin/sh"):
            return
        with self._lock:
            try:
                if self._proc is None or self._owner != os.getpid() or self._proc.poll() is not None:
                    self._proc = subprocess.Popen(  # noqa: S603 - a fixed script, names arrive on stdin
                        ["/bin/sh", "-c", _REAPER_SCRIPT],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                    if not self._owner:
                        atexit.register(self._stop)
                    self._owner = os.getpid()
                stdin = self._proc.stdin
                assert stdin is not None
                stdin.write(os.fsencode(name) + b"\n")
                stdin.flush()
            except OSError:  # no watcher: close, collection and exit still delete the file
                self._proc = None

    def _stop(self) -> None:
        """At a normal exit: close the pipe (the watcher deletes what is left and exits) and reap it."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None or self._owner != os.getpid():
            return
        with suppress(OSError, subprocess.TimeoutExpired):
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)


_REAPER = _Reaper()


def _remove_database(name: str) -> None:
    """Delete a database file and its WAL companions (missing ones are fine)."""
    for part in (name, f"{name}-wal", f"{name}-shm", f"{name}-journal"):
        with suppress(FileNotFoundError):
            os.remove(part)
