"""Per-search snapshots: the ordered ids of a search's matches, kept when its first page is read, so
every later page is a slice that costs what its own entries cost (not a re-sort of every match).

Semantics (what a client walking the pages sees): the match set and its order are fixed when the
first page is read; each page then serves the current version of those resources, leaving out any
deleted (or moved out of the tenant) since, so a page may be short; resources created later are not
in the walk. Ties in the sort keys are broken by id, so the order is total and no resource is on
two pages. A snapshot lives while it fits the byte budget (least recently used first out); a
continuation whose snapshot is gone (evicted, or the server restarted) is answered at its offset
over the current data, with a fresh snapshot from there on.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_BUDGET = 32 * 1024 * 1024
"""Bytes all snapshots may take together (estimated: ids plus per-id overhead)."""

MAX_IDS = 200_000
"""Searches with more matches than this are paged by offset instead (no snapshot)."""

_PER_ID = 64  # a Python str's header and its slot in the tuple, roughly

SnapshotKey = tuple[str, str, str, tuple[tuple[str, str], ...]]
"""env, tenant, resource type and the search's parameters: a snapshot serves only this search."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The ordered ids of one search (``key``: env, tenant, type and its parameters) and its total."""

    key: SnapshotKey
    ids: tuple[str, ...]
    total: int
    size: int


class Snapshots:
    """A thread-safe LRU of snapshots under a byte budget."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._items: OrderedDict[str, Snapshot] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, key: SnapshotKey, ids: Sequence[str], total: int) -> str | None:
        """Keep ``ids`` and return the snapshot's id, or None when it does not fit the budget."""
        size = sum(len(i) + _PER_ID for i in ids)
        if size > self.budget:
            return None
        sid = secrets.token_urlsafe(12)
        with self._lock:
            self._items[sid] = Snapshot(key, tuple(ids), total, size)
            self._bytes += size
            while self._bytes > self.budget:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.size
        return sid

    def get(self, sid: str, key: SnapshotKey) -> Snapshot | None:
        """The snapshot ``sid`` if it is still kept and was taken for this very search and caller."""
        with self._lock:
            snap = self._items.get(sid)
            if snap is None or snap.key != key:
                return None
            self._items.move_to_end(sid)
            return snap

    @property
    def bytes(self) -> int:
        """Bytes the kept snapshots take (estimated)."""
        return self._bytes

    def clear(self) -> None:
        """Drop every snapshot."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


SNAPSHOTS = Snapshots()
"""The process's snapshots (the engine is a set of functions over a connection; this is its one state)."""
