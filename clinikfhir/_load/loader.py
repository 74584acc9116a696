"""The load engine behind ``clinikfhir load``, ``clinikfhir sandbox --seed`` and the pytest plugin's
``@pytest.mark.clinik_seed`` (:func:`clinikfhir.testing.seed`): one loader for all three.

Units of work. A transaction Bundle is loaded all or nothing (``urn:uuid`` references resolved by the
server); a batch Bundle is sent whole and answered entry by entry; every other resource (NDJSON lines,
single files, the entries of collection and searchset Bundles) is a unit of its own.

Requests. Small units ready at the same time travel together: one transaction request carries up to
160 resources (the most AWS HealthLake, behind the gateway, accepts in one Bundle) of several units,
so a folder of small Synthea Bundles or an NDJSON file takes a few large requests instead of one per
Bundle or per line (the server then pays its per-request and per-commit cost once per group). Each
unit stays all or nothing: a group is one transaction, and when the server refuses it, nothing was
written and its units are sent again one by one, so the refusal lands on the unit that caused it.
Units that share a ``fullUrl`` or an ``ifNoneExist`` never travel together. A transaction Bundle over
160 resources or over the 1 MiB request cap is sent in parts (see :meth:`Loader._send_in_parts`).
``--concurrency`` bounds the requests in flight, look-ups included.

Local validation first. Each unit is checked by :func:`clinikfhir.validate` before anything is sent;
a unit with an error is refused and reported (file, element path, rule; never a value).

No duplicates, ever. The gateway mints ids on create and has no upsert, so a client-assigned id
cannot make a write repeatable. Instead every created resource carries a *load tag*
(``meta.tag`` ``urn:clinikfhir:load|<key>``), the key being a hash of the resource's identity in the
source (its ``fullUrl``, else ``Type/id``, else its content), and is created conditionally
(``ifNoneExist: _tag=urn:clinikfhir:load|<key>``) unless the source gives its own ``ifNoneExist``
(Synthea's Organizations and Practitioners do). A re-run, or the resumption of an interrupted run,
finds what is already there and creates nothing twice; the client's ``Idempotency-Key`` covers the
retries of one request. Tenant tags and ``meta.versionId``/``lastUpdated`` of exported data are
dropped (the gateway sets its own).

References. ``urn:uuid`` references inside a transaction are the server's business. Conditional
references (``Organization?identifier=...``, as Synthea writes them), which the sandbox does not
resolve inside transactions, are resolved here by a search within the tenant (cached): exactly one
match is required. ``Type/id`` references between separately sent resources are mapped to the
server ids of the resources loaded from those sources (through their load tag). A unit whose
references cannot be resolved yet waits until the rest is loaded and is tried again; a conditional
reference that still matches nothing is refused, a ``Type/id`` that was never loaded is kept as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson

from clinikfhir._wire import TENANT_SYSTEM

from .sources import Item, Problem, files_of, read_items

if TYPE_CHECKING:
    from clinikfhir import AsyncClinik, Clinik
    from clinikfhir._issues import Issue
    from clinikfhir.bundle import BundleResponse, EntryResponse

__all__ = ["LOAD_TAG", "LoadReport", "Loader", "Refusal"]

LOAD_TAG = "urn:clinikfhir:load"
_CONDITIONAL = re.compile(r"^([A-Z][A-Za-z]{1,63})\?(.+)$", re.S)
_LITERAL = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
_FLATTEN = ("collection", "searchset", "history")
_ROOM = 512  # bytes a load tag, an ifNoneExist and resolved references may add to one entry
_LOOKUPS_PER_BATCH = 50  # searches in one look-up batch: its request and answer stay small
_PART_BYTES = 900_000  # under the gateway's 1 MiB body cap, with room for the Bundle around the entries
_GROUP_ENTRIES = 160  # resources in one Bundle request: AWS HealthLake's quota ("not adjustable")
_GROUPS_AHEAD = 2  # per request slot, resources read, checked and waiting: full groups, twice over
Kind = Literal["transaction", "batch", "resource"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why something was not loaded: where (``label`` file[:line], element ``path``), the ``rule``
    (a validation rule key, or ``json``, ``server:<CODE>``, ``conditional-reference``...) and a message
    that never contains a value."""

    label: str
    path: str
    rule: str
    message: str


@dataclass(slots=True)
class TypeCounts:
    """Per resource type: created now, already there (a re-run), refused."""

    created: int = 0
    existing: int = 0
    refused: int = 0
    valid: int = 0  # checked and not sent (a dry run)


@dataclass(slots=True)
class LoadReport:
    """What a load did, per resource type, and every refusal."""

    counts: dict[str, TypeCounts] = field(default_factory=dict[str, "TypeCounts"])
    refusals: list[Refusal] = field(default_factory=list[Refusal])
    #: each reference as the source wrote it (``Patient/example``, a ``fullUrl``) -> ``Type/id`` on the server
    refs: dict[str, str] = field(default_factory=dict[str, str])
    created_refs: list[str] = field(default_factory=list[str])  # ``Type/id`` of each resource created, in order
    units: int = 0
    stopped_early: bool = False
    aborted: str | None = None  # why the load stopped (no server, a rejected key...), one line
    seconds: float = 0.0  # from the first file read to the last answer

    def count(self, rtype: str) -> TypeCounts:
        found = self.counts.get(rtype)
        if found is None:
            found = self.counts[rtype] = TypeCounts()
        return found

    @property
    def created(self) -> int:
        return sum(c.created for c in self.counts.values())

    @property
    def existing(self) -> int:
        return sum(c.existing for c in self.counts.values())

    @property
    def refused(self) -> int:
        return sum(c.refused for c in self.counts.values())

    @property
    def ok(self) -> bool:
        """True when nothing was refused and the load ran to its end."""
        return not self.refusals and self.aborted is None


@dataclass(slots=True)
class _Unit:
    label: str
    kind: Kind
    body: dict[str, Any]  # the Bundle to send (resources are wrapped in a one-entry transaction)
    types: list[str]  # resource type of each entry (for counting)
    keys: list[str | None]  # load key of each POST entry
    sources: list[list[str]]  # how the source names each entry (``Type/id``, its fullUrl), for LoadReport.refs
    needs: dict[str, tuple[str, str, bool]] | None = None  # reference -> (lookup, first path, conditional)
    holders: list[tuple[str, dict[str, Any]]] = field(default_factory=list[tuple[str, dict[str, Any]]])
    size: int | None = None  # bytes of the source JSON (None: unknown), to skip encoding a small unit twice
    relinked: bool = False  # references were rewritten to longer urn:uuid ones: its size is not the source's
    # every Reference of a Bundle's entries, found once when it was planned: (entry index, path parts
    # below the entry's resource, the Reference object); None: not collected yet
    refs: list[tuple[int, tuple[str | int, ...], dict[str, Any]]] | None = None


@dataclass(slots=True)
class _Ready:
    """A unit whose references are resolved, waiting for a request to carry it (alone or in a group)."""

    unit: _Unit
    body: dict[str, Any]
    size: int  # bytes its entries add to a request, at most
    marks: frozenset[str]  # its entries' fullUrls and ifNoneExist criteria: units sharing one stay apart
    done: asyncio.Future[None]
    taken: bool = False


def _key(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _identity(resource: dict[str, Any], full_url: Any) -> str:
    if isinstance(full_url, str) and full_url:
        return full_url
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{resource.get('resourceType')}/{rid}"
    return hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _source_key(rtype: str, rid: str) -> str:
    return _key(f"{rtype}/{rid}")


def _clean_meta(resource: dict[str, Any], key: str | None) -> None:
    """Drop the gateway's tenant tag, server version data and old load tags; add the load tag."""
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    meta = dict(cast("dict[str, Any]", meta))
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    tags: list[Any] = [
        t
        for t in cast("list[Any]", meta.get("tag") or [])
        if not (isinstance(t, dict) and cast("dict[str, Any]", t).get("system") in (TENANT_SYSTEM, LOAD_TAG))
    ]
    if key is not None:
        tags.append({"system": LOAD_TAG, "code": key})
    if tags:
        meta["tag"] = tags
    else:
        meta.pop("tag", None)
    if meta:
        resource["meta"] = meta
    else:
        resource.pop("meta", None)


def _items(value: Any) -> list[Any]:
    items: list[Any] = value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]
    return items


def _marks(body: dict[str, Any]) -> Iterator[str]:
    """What two units in one transaction must not share: each entry's ``fullUrl`` and ``ifNoneExist``."""
    for entry in _items(body.get("entry")):
        if isinstance(entry, dict):
            full_url = cast("dict[str, Any]", entry).get("fullUrl")
            if isinstance(full_url, str):
                yield full_url
            request = cast("dict[str, Any]", entry).get("request")
            criteria = cast("dict[str, Any]", request).get("ifNoneExist") if isinstance(request, dict) else None
            if isinstance(criteria, str):
                yield "?" + criteria


def _entry_resource(entry: Any) -> dict[str, Any] | None:
    """The resource of a Bundle entry, if the entry is an object holding one."""
    if isinstance(entry, dict):
        resource = cast("dict[str, Any]", entry).get("resource")
        if isinstance(resource, dict):
            return cast("dict[str, Any]", resource)
    return None


def _reference_trails(value: Any, path: str) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every ``Reference`` object (a dict with a string ``reference``) below ``value``, with its path as
    its parts (a name or an index), joined by :func:`_joined` only where one is shown: most
    References of a load need no path."""
    out: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
    _collect_references(value, [path], out)
    return out


def _joined(trail: tuple[str | int, ...]) -> str:
    return "".join(p if isinstance(p, str) else f"[{p}]" for p in trail)


def _collect_references(
    value: Any, trail: list[str | int], out: list[tuple[tuple[str | int, ...], dict[str, Any]]]
) -> None:
    """Depth first, in document order (the JSON is decoded: dicts and lists, no casts needed)."""
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):  # pyright: ignore[reportUnknownMemberType]
            out.append((tuple(trail), value))  # pyright: ignore[reportUnknownArgumentType]
        for name, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            if name != "reference" and isinstance(item, (dict, list)):
                trail.append("." + name)  # pyright: ignore[reportUnknownArgumentType]
                _collect_references(item, trail, out)
                trail.pop()
    elif isinstance(value, list):
        for index, item in enumerate(value):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if isinstance(item, (dict, list)):
                trail.append(index)
                _collect_references(item, trail, out)
                trail.pop()


def plan(item: Item) -> Iterator[_Unit | Refusal]:
    """The units of work in one decoded item (see the module docstring), or why it cannot be loaded."""
    data = item.data
    if not isinstance(data, dict):
        yield Refusal(item.label, "", "structure", "not a FHIR resource (a JSON object with a resourceType)")
        return
    resource = cast("dict[str, Any]", data)
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        yield Refusal(item.label, "", "structure", "not a FHIR resource (a JSON object with a resourceType)")
        return
    if rtype == "Bundle" and resource.get("type") in ("transaction", "batch"):
        unit = _bundle_unit(item.label, resource)
        if isinstance(unit, _Unit) and unit.size is None and not unit.relinked:
            unit.size = item.size
        yield unit
        return
    if rtype == "Bundle" and resource.get("type") in _FLATTEN:
        entries: Any = resource.get("entry") or []
        if not isinstance(entries, list):
            yield Refusal(item.label, "Bundle.entry", "structure", "Bundle.entry must be an array")
            return
        for index, entry in enumerate(_items(entries)):
            inner = cast("dict[str, Any]", entry).get("resource") if isinstance(entry, dict) else None
            if not isinstance(inner, dict):
                continue  # e.g. a deleted entry of a history Bundle
            where = f"{item.label}#entry[{index}]"
            yield _resource_unit(where, cast("dict[str, Any]", inner), cast("dict[str, Any]", entry).get("fullUrl"))
        return
    single = _resource_unit(item.label, resource, None)
    single.size = item.size
    yield single


def _resource_unit(label: str, resource: dict[str, Any], full_url: Any) -> _Unit:
    rtype = str(resource.get("resourceType"))
    rid = resource.get("id")
    # the identity of a separately sent resource is Type/id, which other sources refer to
    identity = f"{rtype}/{rid}" if isinstance(rid, str) and rid else _identity(resource, full_url)
    key = _key(identity)
    resource = dict(resource)
    _clean_meta(resource, key)
    entry = {
        "resource": resource,
        "request": {"method": "POST", "url": rtype, "ifNoneExist": f"_tag={LOAD_TAG}|{key}"},
    }
    body = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    names = [f"{rtype}/{rid}"] if isinstance(rid, str) and rid else []
    if isinstance(full_url, str) and full_url:
        names.append(full_url)
    return _Unit(label, "resource", body, [rtype], [key], [names])


def _bundle_unit(label: str, bundle: dict[str, Any]) -> _Unit | Refusal:
    kind: Kind = "transaction" if bundle.get("type") == "transaction" else "batch"
    entries: Any = bundle.get("entry") or []
    if not isinstance(entries, list):
        return Refusal(label, "Bundle.entry", "structure", "Bundle.entry must be an array")
    out: list[Any] = []
    types: list[str] = []
    keys: list[str | None] = []
    sources: list[list[str]] = []
    local: dict[str, str] = {}  # Type/id declared by an entry -> its fullUrl (transaction only)
    for raw in _items(entries):
        if not isinstance(raw, dict):
            out.append(raw)  # validation reports it
            types.append("?")
            keys.append(None)
            sources.append([])
            continue
        entry = dict(cast("dict[str, Any]", raw))
        resource = entry.get("resource")
        request = entry.get("request")
        rtype = str(cast("dict[str, Any]", resource).get("resourceType")) if isinstance(resource, dict) else "?"
        types.append(rtype)
        names: list[str] = []
        if isinstance(entry.get("fullUrl"), str):
            names.append(entry["fullUrl"])
        if isinstance(resource, dict) and isinstance(cast("dict[str, Any]", resource).get("id"), str):
            names.append(f"{rtype}/{cast('dict[str, Any]', resource)['id']}")
        sources.append(names)
        key: str | None = None
        if isinstance(resource, dict) and isinstance(request, dict):
            req = dict(cast("dict[str, Any]", request))
            res = dict(cast("dict[str, Any]", resource))
            if req.get("method") == "POST":
                key = _key(_identity(res, entry.get("fullUrl")))
                if not req.get("ifNoneExist"):
                    req["ifNoneExist"] = f"_tag={LOAD_TAG}|{key}"
                rid = res.get("id")
                if kind == "transaction" and isinstance(rid, str):
                    full = entry.get("fullUrl")
                    if not (isinstance(full, str) and full.startswith("urn:uuid:")):
                        full = f"urn:uuid:{_uuid_of(key)}"
                        entry["fullUrl"] = full
                    local[f"{rtype}/{rid}"] = full
            _clean_meta(res, key)
            entry["resource"] = res
            entry["request"] = req
        keys.append(key)
        out.append(entry)
    refs: list[tuple[int, tuple[str | int, ...], dict[str, Any]]] = []
    for index, entry in enumerate(out):
        held = _entry_resource(entry)
        if held is not None:
            refs.extend((index, trail, ref) for trail, ref in _reference_trails(held, ""))
    if local:
        for _, _, ref in refs:
            target = local.get(ref["reference"])
            if target is not None:
                ref["reference"] = target
    body = {k: v for k, v in bundle.items() if k != "entry"}
    body["entry"] = out
    return _Unit(label, kind, body, types, keys, sources, relinked=bool(local), refs=refs)


def _uuid_of(key: str) -> str:
    return f"{key[:8]}-{key[8:12]}-4{key[13:16]}-8{key[17:20]}-{key[20:32]}"


class _Unresolved(Exception):
    """A unit has a reference that cannot be resolved yet."""

    def __init__(self, path: str, conditional: bool) -> None:
        super().__init__(path)
        self.path = path
        self.conditional = conditional


class Loader:
    """Load FHIR data through an :class:`~clinikfhir.AsyncClinik` (see the module docstring), or a
    :class:`~clinikfhir.Clinik` (the seed loader's: its requests block, so one is in flight at a time).

    ``concurrency`` bounds the requests in flight. ``on_progress(resources_done, refused)`` is called
    after every unit; ``on_bytes(n)`` after each file, with its size. ``limit`` stops after that many
    resources have been sent (a Bundle counts whole): an interrupted run, resumable by running again.
    ``part_bytes`` and ``group_entries`` bound one request: its body (under the gateway's 1 MiB cap)
    and its resources (AWS HealthLake's 160 per Bundle).
    """

    def __init__(
        self,
        clinik: AsyncClinik | Clinik | None,
        *,
        concurrency: int = 4,
        dry_run: bool = False,
        limit: int | None = None,
        ignore: Iterable[str] = (),
        on_progress: Callable[[int, int], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
        part_bytes: int = _PART_BYTES,
        group_entries: int = _GROUP_ENTRIES,
    ) -> None:
        if clinik is None and not dry_run:
            raise ValueError("a client is needed unless dry_run")
        self.clinik = clinik
        self.concurrency = max(1, concurrency)
        self.dry_run = dry_run
        self.limit = limit
        self.ignore = frozenset(ignore)
        self.on_progress = on_progress
        self.on_bytes = on_bytes
        self.part_bytes = part_bytes
        self.group_entries = max(1, group_entries)
        self.report = LoadReport()
        self._done = 0
        self._sent = 0
        self._cache: dict[str, str] = {}  # reference text -> "Type/server-id"
        self._lookups: dict[str, asyncio.Future[str | None]] = {}  # look-ups in flight
        self._misses: dict[str, int] = {}  # look-up -> the write generation at which it found nothing
        self._generation = 0  # answered writes so far: a miss is only reused while nothing was written since
        self._posting: set[asyncio.Future[None]] = set()  # writes in flight
        self._fatal: BaseException | None = None
        self._requests: asyncio.Semaphore | None = None  # a slot per request in flight (made by run())
        self._ready: list[_Ready] = []  # resolved units not yet taken by a request, in arrival order

    # ------------------------------------------------------------------ reading and checking

    def units(self, paths: Iterable[str]) -> Iterator[_Unit]:
        """Every valid unit in ``paths``; problems and invalid units go to the report."""
        from clinikfhir.validation import validate

        for path in files_of(paths):
            if isinstance(path, Problem):
                self._refuse_unreadable(path)
                continue
            yield from self._file_units(path, validate)
            if self.on_bytes is not None:
                self.on_bytes(_size(path))

    def _file_units(self, path: Path, validate: Callable[..., list[Issue]]) -> Iterator[_Unit]:
        for found in read_items([os.fspath(path)]):
            if isinstance(found, Problem):
                self._refuse_unreadable(found)
                continue
            for unit in plan(found):
                if isinstance(unit, Refusal):
                    self.report.refusals.append(unit)
                    self.report.count("?").refused += 1
                    continue
                issues = [i for i in validate(unit.body, level="error") if i.key not in self.ignore]
                if issues:
                    for issue in issues:
                        where = _unwrap(unit, issue.path)
                        self.report.refusals.append(Refusal(unit.label, where, issue.key or issue.code, issue.message))
                    self._count_refused(unit)
                    continue
                yield unit

    def _refuse_unreadable(self, problem: Problem) -> None:
        self.report.refusals.append(Refusal(problem.label, "", problem.rule, problem.message))
        self.report.count("?").refused += 1

    def _count_refused(self, unit: _Unit) -> None:
        for rtype in unit.types:
            self.report.count(rtype).refused += 1
        self._progress(len(unit.types))

    def _progress(self, n: int) -> None:
        self._done += n
        if self.on_progress is not None:
            self.on_progress(self._done, len(self.report.refusals))

    # ------------------------------------------------------------------ sending

    async def run(self, paths: Iterable[str]) -> LoadReport:
        """Read, check and send everything in ``paths``; returns the report."""
        import time

        from clinikfhir.errors import ClinikError

        started = time.monotonic()
        self._requests = asyncio.Semaphore(self.concurrency)
        ahead = _Budget(self.concurrency * self.group_entries * _GROUPS_AHEAD)
        parked: list[_Unit] = []
        tasks: set[asyncio.Task[None]] = set()

        async def worker(unit: _Unit, final: bool, weight: int) -> None:
            try:
                if not await self._send(unit, final):
                    parked.append(unit)
            except ClinikError as exc:
                if _is_fatal(exc):
                    self._fatal = exc
                else:
                    self._server_refusal(unit, exc)
            finally:
                ahead.give(weight)

        async def dispatch(unit: _Unit, final: bool) -> None:
            weight = await ahead.take(len(unit.types))
            task = asyncio.ensure_future(worker(unit, final, weight))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        for unit in self.units(paths):
            if self._fatal is not None:
                break
            if self.limit is not None and self._sent >= self.limit:
                self.report.stopped_early = True
                break
            self.report.units += 1
            if self.dry_run:
                for rtype in unit.types:
                    self.report.count(rtype).valid += 1
                self._progress(len(unit.types))
                continue
            self._sent += len(unit.types)
            await dispatch(unit, final=False)
            await asyncio.sleep(0)  # let the new task send before the next unit is read and checked
        await _drain(tasks)
        # units waiting for references: again, while that makes progress; then a last round that decides
        while parked and self._fatal is None:
            waiting, parked[:] = list(parked), []
            self._misses.clear()
            for unit in waiting:
                await dispatch(unit, final=False)
            await _drain(tasks)
            if len(parked) == len(waiting):
                waiting, parked[:] = list(parked), []
                self._misses.clear()
                for unit in waiting:
                    await dispatch(unit, final=True)
                await _drain(tasks)
                break
        if self._fatal is not None:
            self.report.aborted = _one_line(self._fatal)
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _send(self, unit: _Unit, final: bool) -> bool:
        """Send one unit; False when it must wait for references (not final)."""
        from clinikfhir.errors import ApiError

        assert self.clinik is not None
        try:
            body = await self._resolved(unit, final)
        except _Unresolved as exc:
            if not final:
                return False
            self._refuse(unit, exc.path, "conditional-reference", "the conditional reference matches no resource")
            return True
        except ApiError as exc:
            if _is_fatal(exc):
                raise
            self._server_refusal(unit, exc)
            return True
        if unit.kind == "batch":
            async with self._sending():
                await self._post_alone(unit, body)
            return True
        size = self._size_of(unit, body)
        if unit.kind == "transaction" and (len(unit.types) > self.group_entries or size > self.part_bytes):
            await self._send_in_parts(unit, body)
            return True
        await self._send_grouped(unit, body, size)
        return True

    def _size_of(self, unit: _Unit, body: dict[str, Any]) -> int:
        """At most the bytes ``body`` adds to a request: from the source JSON when it is known (its load
        tags, conditions and resolved references add at most ``_ROOM`` bytes an entry), so a unit is
        encoded once, to send; otherwise encoded here."""
        if unit.size is not None:
            return unit.size + _ROOM * len(unit.types)
        return len(orjson.dumps(body))

    def _slot(self) -> asyncio.Semaphore:
        """The request slots (``concurrency`` of them): held for each request sent."""
        assert self._requests is not None, "requests are sent from run()"
        return self._requests

    @contextlib.asynccontextmanager
    async def _sending(self) -> AsyncGenerator[None, None]:
        """A request slot, for one request; once the load is stopping (a fatal error), no new request
        is sent: its error is raised instead."""
        async with self._slot():
            if self._fatal is not None:
                raise self._fatal
            yield

    async def _send_grouped(self, unit: _Unit, body: dict[str, Any], size: int) -> None:
        """Send a resolved transaction or lone-resource unit in the next request with a free slot,
        together with the other units waiting then (see :meth:`_take`); returns once it is recorded."""
        marks = frozenset(_marks(body))
        item = _Ready(unit, body, size, marks, asyncio.get_running_loop().create_future())
        self._ready.append(item)
        async with self._slot():
            if not item.taken:  # else a request that got a slot first carries it: wait for that
                if self._fatal is not None:  # the load is stopping: nothing more is sent
                    self._ready.remove(item)
                    raise self._fatal
                await self._post_group(self._take(item))
        await item.done

    def _take(self, first: _Ready) -> list[_Ready]:
        """``first`` and, in arrival order, every waiting unit that fits beside it: at most
        ``group_entries`` resources and ``part_bytes`` bytes in all, no ``fullUrl`` or ``ifNoneExist``
        shared."""
        group = [first]
        entries, size, marks = len(first.unit.types), first.size, set(first.marks)
        first.taken = True
        waiting: list[_Ready] = []
        for item in self._ready:
            if item is first:
                continue
            n = len(item.unit.types)
            fits = entries + n <= self.group_entries and size + item.size <= self.part_bytes
            if fits and marks.isdisjoint(item.marks):
                group.append(item)
                item.taken = True
                entries += n
                size += item.size
                marks |= item.marks
            else:
                waiting.append(item)
        self._ready = waiting
        return group

    async def _post_group(self, group: list[_Ready]) -> None:
        """Send ``group`` (a slot held) and set each unit's ``done``: to its outcome once recorded, or to
        an error that is not a refusal, for its worker to report."""
        try:
            if len(group) == 1:
                await self._post_alone(group[0].unit, group[0].body)
            else:
                await self._post_together(group)
        except BaseException as exc:
            for item in group:
                if not item.done.done():
                    item.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for item in group:
            if not item.done.done():
                item.done.set_result(None)

    async def _post_together(self, group: list[_Ready]) -> None:
        """One transaction carrying every unit of ``group``, each unit's answer recorded. Refused as a
        whole, nothing of it was written: the units go again one by one, so that the refusal lands on
        the unit that caused it."""
        from clinikfhir.errors import ApiError, LocalError

        entries = [entry for item in group for entry in _items(item.body.get("entry"))]
        body = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        try:
            answer = await self._post("transaction", body)
        except (ApiError, LocalError) as exc:
            if _is_fatal(exc):
                raise
            for item in group:
                await self._post_alone(item.unit, item.body)
                item.done.set_result(None)
            return
        offset = 0
        for item in group:
            n = len(item.unit.types)
            self._record(item.unit, answer.entries[offset : offset + n])
            offset += n

    async def _post_alone(self, unit: _Unit, body: dict[str, Any]) -> None:
        """Send one unit in a request of its own (a slot already held); a refusal is reported."""
        from clinikfhir.errors import ApiError, LocalError

        try:
            answer = await self._post(unit.kind, body)
        except (ApiError, LocalError) as exc:
            if _is_fatal(exc):
                raise
            self._server_refusal(unit, exc)
            return
        self._record(unit, answer.entries)

    async def _post(self, kind: Kind, body: dict[str, Any]) -> BundleResponse:
        """Send one Bundle, already validated here (``validate=False``: not checked twice), asking for
        ``Prefer: return=minimal``: only each entry's status and location are read (never typed),
        whether or not the server honours the preference."""
        assert self.clinik is not None
        from clinikfhir.aio import AsyncClinik  # the CLI's client (the sync one is not even imported then)

        clinik = self.clinik
        if not isinstance(clinik, AsyncClinik):
            send = clinik.batch if kind == "batch" else clinik.transaction
            try:
                return send(body, validate=False, prefer_return="minimal")
            finally:
                self._generation += 1
        send_async = clinik.batch if kind == "batch" else clinik.transaction
        posting = asyncio.get_running_loop().create_future()
        self._posting.add(posting)
        try:
            return await send_async(body, validate=False, prefer_return="minimal")
        finally:
            self._generation += 1
            self._posting.discard(posting)
            posting.set_result(None)

    async def _send_in_parts(self, unit: _Unit, body: dict[str, Any]) -> None:
        """A transaction over the gateway's 1 MiB body cap or over ``group_entries`` resources (a large
        Synthea patient), sent as several transactions in entry order; ``urn:uuid`` references to
        earlier parts are rewritten to the ids the server gave. Each part is all or nothing; the
        conditional creates make a re-run finish the rest. A reference to a later part cannot be
        resolved: such a Bundle is refused, nothing sent."""
        from clinikfhir.errors import ApiError, LocalError

        assert self.clinik is not None
        entries = _items(body["entry"])
        parts: list[list[int]] = [[]]
        size = 0
        for index, entry in enumerate(entries):
            n = len(orjson.dumps(entry))
            if n > self.part_bytes:
                self._refuse(unit, f"Bundle.entry[{index}]", "size", "the entry alone is over the 1 MiB request cap")
                return
            if (size + n > self.part_bytes or len(parts[-1]) >= self.group_entries) and parts[-1]:
                parts.append([])
                size = 0
            parts[-1].append(index)
            size += n
        part_of = {
            str(entries[i].get("fullUrl")): p
            for p, part in enumerate(parts)
            for i in part
            if isinstance(entries[i], dict)
        }
        for p, part in enumerate(parts):
            for i in part:
                for _, ref in _reference_trails(_entry_resource(entries[i]), ""):
                    if part_of.get(ref["reference"], p) > p:
                        where = f"Bundle.entry[{i}]"
                        message = "refers to an entry too far ahead to split the Bundle under the 1 MiB request cap"
                        self._refuse(unit, where, "size", message)
                        return
        mapping: dict[str, str] = {}
        for p, part in enumerate(parts):
            chunk = [entries[i] for i in part]
            for entry in chunk:
                for _, ref in _reference_trails(_entry_resource(entry), ""):
                    target = mapping.get(ref["reference"])
                    if target is not None:
                        ref["reference"] = target
            sub = _Unit(
                f"{unit.label} (part {p + 1} of {len(parts)})",
                "transaction",
                {**{k: v for k, v in body.items() if k != "entry"}, "entry": chunk},
                [unit.types[i] for i in part],
                [unit.keys[i] for i in part],
                [unit.sources[i] for i in part],
            )
            try:
                async with self._sending():
                    answer = await self._post("transaction", sub.body)
            except (ApiError, LocalError) as exc:
                if _is_fatal(exc):
                    raise
                self._server_refusal(sub, exc)
                rest = [i for later in parts[p + 1 :] for i in later]
                if rest:
                    remaining = _Unit(unit.label, "transaction", {}, [unit.types[i] for i in rest], [], [])
                    self._refuse(remaining, "", "not-sent", "an earlier part of this Bundle was refused")
                return
            self._record(sub, answer.entries)
            for entry, response in zip(chunk, answer.entries, strict=False):
                full_url = cast("dict[str, Any]", entry).get("fullUrl") if isinstance(entry, dict) else None
                target = response.reference
                if isinstance(full_url, str) and target is not None:
                    mapping[full_url] = target

    async def _resolved(self, unit: _Unit, final: bool) -> dict[str, Any]:
        """The unit's body with conditional and cross-source references replaced by server ids.

        A look-up that finds nothing while other writes are in flight or waiting for a request waits for
        them and asks once more (they may create the target: Synthea's Organizations for the patient
        Bundles sent beside them); only then does the unit wait for the next round."""
        if unit.needs is None:
            unit.needs, unit.holders = _needs(unit)
        if not unit.needs:
            return unit.body
        needs = unit.needs
        lookups = [lookup for lookup, _, _ in needs.values()]
        generation = self._generation
        found = await self._lookup_all(lookups)
        if None in found.values() and (self._posting or self._ready or self._generation != generation):
            writes = [*self._posting, *(item.done for item in self._ready)]  # sent, or waiting for a request
            if writes:
                await asyncio.wait(writes)
            found = await self._lookup_all(lookups)
        for lookup, path, conditional in needs.values():
            if found[lookup] is None and (conditional or not final):
                raise _Unresolved(path, conditional)
        # rewritten in place, once everything needed is known: no copy of the body (a unit that waits
        # keeps its references as written, keyed by that text, and is rewritten when it is sent)
        for text, holder in unit.holders:
            target = found[needs[text][0]]
            if target is not None:
                holder["reference"] = target
        return unit.body

    async def _lookup_all(self, lookups: list[str]) -> dict[str, str | None]:
        """Each ``Type?criteria`` -> ``Type/id`` of its one match in the tenant, None for none: from the
        cache, a look-up already in flight, or one batch of searches for the rest (answers untyped)."""
        results: dict[str, str | None] = {}
        waits: list[tuple[str, asyncio.Future[str | None]]] = []
        ask: list[str] = []
        for lookup in dict.fromkeys(lookups):
            hit = self._cache.get(lookup)
            if hit is not None:
                results[lookup] = hit
            elif self._misses.get(lookup) == self._generation:
                results[lookup] = None
            elif lookup in self._lookups:
                waits.append((lookup, self._lookups[lookup]))
            else:
                ask.append(lookup)
        if ask:
            loop = asyncio.get_running_loop()
            futures = {lookup: loop.create_future() for lookup in ask}
            self._lookups.update(futures)
            generation = self._generation
            try:
                answers: dict[str, str | BaseException | None] = {}
                for start in range(0, len(ask), _LOOKUPS_PER_BATCH):  # a few batches for a unit with many
                    answers.update(await self._search(ask[start : start + _LOOKUPS_PER_BATCH]))
            except BaseException as exc:
                for lookup, future in futures.items():
                    del self._lookups[lookup]
                    future.set_exception(exc)
                    future.exception()  # retrieved: no "never retrieved" warning when no one else waits
                raise
            failure: BaseException | None = None
            for lookup, answer in answers.items():
                del self._lookups[lookup]
                future = futures[lookup]
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                    future.exception()
                    failure = failure or answer
                    continue
                if answer is None:
                    self._misses[lookup] = generation
                else:
                    self._cache[lookup] = answer
                future.set_result(answer)
                results[lookup] = answer
            if failure is not None:
                raise failure
        for lookup, pending in waits:
            results[lookup] = await asyncio.shield(pending)
        return results

    async def _search(self, lookups: list[str]) -> dict[str, str | BaseException | None]:
        """One batch Bundle of searches (``GET Type?criteria&_count=2``), one per look-up: the one
        match's ``Type/id``, None for no match, an error for more than one or a refused search."""
        from urllib.parse import urlencode

        from clinikfhir.aio import AsyncClinik
        from clinikfhir.errors import ApiError

        assert self.clinik is not None
        entries: list[dict[str, Any]] = []
        for lookup in lookups:
            rtype, _, query = lookup.partition("?")
            url = f"{rtype}?{urlencode([*_pairs(query), ('_count', '2')])}"
            entries.append({"request": {"method": "GET", "url": url}})
        body = {"resourceType": "Bundle", "type": "batch", "entry": entries}
        clinik = self.clinik
        async with self._sending():
            if isinstance(clinik, AsyncClinik):
                answer = await clinik.batch(body, validate=False)
            else:
                answer = clinik.batch(body, validate=False)
        out: dict[str, str | BaseException | None] = {}
        for index, lookup in enumerate(lookups):
            entry = answer.entries[index] if index < len(answer.entries) else None
            if entry is None or not entry.ok:
                status = entry.status_code if entry is not None else 502
                code = "PRECONDITION_FAILED" if status == 412 else ""
                out[lookup] = ApiError(_outcome(entry.outcome_json if entry else None), status=status or 502, code=code)
                continue
            ids = _match_ids(entry.resource_json)
            if len(ids) > 1:
                out[lookup] = ApiError(
                    "the conditional reference matches more than one resource", status=412, code="PRECONDITION_FAILED"
                )
            else:
                out[lookup] = f"{lookup.partition('?')[0]}/{ids[0]}" if ids else None
        return out

    def _record(self, unit: _Unit, entries: Sequence[EntryResponse]) -> None:
        """Count and remember what the server answered for each entry of ``unit``, in order."""
        for index, rtype in enumerate(unit.types):
            response = entries[index] if index < len(entries) else None
            status = response.status if response is not None else ""
            counts = self.report.count(rtype)
            target = response.reference if response is not None else None
            if target is not None and status.startswith("2"):
                for name in unit.sources[index] if index < len(unit.sources) else ():
                    self.report.refs[name] = target
            if status.startswith("201"):
                counts.created += 1
                if target is not None:
                    self.report.created_refs.append(target)
            elif status.startswith("2"):
                counts.existing += 1
            else:
                counts.refused += 1
                outcome = response.outcome_json if response is not None else None
                self.report.refusals.append(
                    Refusal(
                        unit.label, _entry_path(unit, index), f"server:{status.split(' ')[0] or '?'}", _outcome(outcome)
                    )
                )
            key = unit.keys[index] if index < len(unit.keys) else None
            if key is not None and target is not None:
                self._cache[f"{rtype}?_tag={LOAD_TAG}|{key}"] = target
        self._progress(len(unit.types))

    def _server_refusal(self, unit: _Unit, exc: Exception) -> None:
        from clinikfhir.errors import ApiError

        if isinstance(exc, ApiError):
            paths = [p for issue in exc.issues for p in issue.expression[-1:]] or [""]
            rule = f"server:{exc.code}"
            messages = [i.diagnostics for i in exc.issues] or [exc.message]
            for path, message in zip(paths, messages, strict=False):
                self.report.refusals.append(Refusal(unit.label, _unwrap(unit, path), rule, message))
        else:
            self.report.refusals.append(Refusal(unit.label, "", f"local:{type(exc).__name__}", str(exc).split("\n")[0]))
        self._count_refused(unit)

    def _refuse(self, unit: _Unit, path: str, rule: str, message: str) -> None:
        self.report.refusals.append(Refusal(unit.label, path, rule, message))
        self._count_refused(unit)


class _Budget:
    """How many resources may be read, checked and waiting for a request at once (``limit``): enough
    for every request slot to find full groups ready, and a bound on memory. Taken in arrival order; a
    unit larger than the limit takes all of it (it goes alone, in parts)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def take(self, n: int) -> int:
        """Wait until ``n`` (at most the limit) fits; returns what was taken, to :meth:`give` back."""
        n = min(max(n, 1), self.limit)
        if not self._waiting and self.used + n <= self.limit:
            self.used += n
            return n
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((n, future))
        await future
        return n

    def give(self, n: int) -> None:
        self.used -= n
        while self._waiting:
            m, future = self._waiting[0]
            if future.cancelled():
                self._waiting.popleft()
                continue
            if self.used + m > self.limit:
                break
            self._waiting.popleft()
            self.used += m
            future.set_result(None)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def total_bytes(paths: Iterable[str]) -> int:
    """The size of every file :meth:`Loader.run` will read (for a progress bar)."""
    return sum(_size(p) for p in files_of(paths) if isinstance(p, Path))


def _needs(unit: _Unit) -> tuple[dict[str, tuple[str, str, bool]], list[tuple[str, dict[str, Any]]]]:
    """The references of ``unit`` to resolve before sending: conditional ones everywhere, ``Type/id``
    ones outside transactions (inside, the server resolves the Bundle's own); first path of each;
    and every Reference object holding one of them, with its text as written."""
    needs: dict[str, tuple[str, str, bool]] = {}
    holders: list[tuple[str, dict[str, Any]]] = []
    refs = unit.refs
    if refs is None:
        refs = [
            (index, trail, ref)
            for index, entry in enumerate(_items(unit.body.get("entry")))
            for trail, ref in _reference_trails(_entry_resource(entry), "")
        ]
    for index, trail, ref in refs:
        text = cast(str, ref["reference"])
        if text in needs:
            holders.append((text, ref))
            continue
        if _CONDITIONAL.match(text):
            needs[text] = (text, _resource_path(unit, index) + _joined(trail), True)
        elif unit.kind != "transaction":
            literal = _LITERAL.match(text)
            if literal is not None:
                rtype, rid = literal.groups()
                lookup = f"{rtype}?_tag={LOAD_TAG}|{_source_key(rtype, rid)}"
                needs[text] = (lookup, _resource_path(unit, index) + _joined(trail), False)
        if text in needs:
            holders.append((text, ref))
    return needs, holders


def _resource_path(unit: _Unit, index: int) -> str:
    """Where the resource of entry ``index`` is, as a refusal shows it."""
    return unit.types[index] if unit.kind == "resource" else f"Bundle.entry[{index}].resource"


def _is_fatal(exc: BaseException) -> bool:
    """Errors that would hit every request alike (a rejected key, a key without write scope, the rate
    or quota limit after the client's retries, no connection): the load stops instead of refusing all."""
    from clinikfhir.errors import AuthenticationError, ForbiddenError, NetworkError, RateLimitError

    if isinstance(exc, ForbiddenError):
        return exc.code == "FORBIDDEN"
    return isinstance(exc, (AuthenticationError, NetworkError, RateLimitError))


def _one_line(exc: BaseException) -> str:
    from clinikfhir.errors import ApiError

    if isinstance(exc, ApiError):
        rid = f" (request id {exc.request_id})" if exc.request_id else ""
        return f"{exc.status} {exc.code}: {exc.message}{rid}"
    return str(exc).split("\n")[0]


def _entry_path(unit: _Unit, index: int) -> str:
    return unit.types[index] if unit.kind == "resource" else f"Bundle.entry[{index}]"


def _unwrap(unit: _Unit, path: str) -> str:
    """A path inside the one-entry wrapper of a lone resource, as a path of that resource."""
    if unit.kind != "resource":
        return path
    prefix = "Bundle.entry[0].resource"
    if path.startswith(prefix):
        return unit.types[0] + path[len(prefix) :]
    if path.startswith("Bundle"):
        return unit.types[0]
    return path


def _outcome(outcome: dict[str, Any] | None) -> str:
    """The diagnostics (else codes) of an entry's OperationOutcome JSON."""
    issues = _items((outcome or {}).get("issue"))
    texts = [
        str(cast("dict[str, Any]", i).get("diagnostics") or cast("dict[str, Any]", i).get("code") or "")
        for i in issues
        if isinstance(i, dict)
    ]
    return "; ".join(t for t in texts if t) or "refused by the server"


def _match_ids(searchset: dict[str, Any] | None) -> list[str]:
    """The ids of the matches (not the includes) in a searchset Bundle's JSON."""
    ids: list[str] = []
    for entry in _items((searchset or {}).get("entry")):
        resource = _entry_resource(entry)
        search = cast("dict[str, Any]", entry).get("search") if resource is not None else None
        mode = cast("dict[str, Any]", search).get("mode", "match") if isinstance(search, dict) else "match"
        if resource is not None and mode == "match" and isinstance(resource.get("id"), str):
            ids.append(resource["id"])
    return ids


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


async def _drain(tasks: set[asyncio.Task[None]]) -> None:
    while tasks:
        await asyncio.gather(*list(tasks))
