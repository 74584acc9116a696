"""Load FHIR JSON files into a server through a :class:`~clinikfhir.Clinik`: the seed loader behind the
pytest plugin's ``@pytest.mark.clinik_seed``.

Files: ``.json`` (one resource, or a Bundle) and ``.ndjson`` (one resource per line); folders are read
recursively in name order. Every loose resource (single files, NDJSON lines, the entries of
collection, searchset and history Bundles) is created first, in transactions of up to :data:`CHUNK`
entries, referenced resources before the resources that reference them: the server assigns new ids
(the gateway has no upsert), and references between seeded resources (``Patient/example`` in an
Observation) are rewritten to the created ones. Transaction and batch Bundles are then sent as they
are (their ``urn:uuid`` references are resolved by the server; their references to loose resources
rewritten). :class:`Seeded` maps each reference as written in the files to the one created.

Errors name the file (and line or entry) and the element path, never a value from the file.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

if TYPE_CHECKING:
    from clinikfhir.client import Clinik

__all__ = ["CHUNK", "SeedError", "Seeded", "read_resources", "seed"]

CHUNK = 100
"""Loose resources per transaction (the gateway also caps a request body at 1 MiB)."""
_CHUNK_BYTES = 768 * 1024
_SUFFIXES = (".json", ".ndjson")
_SPLIT_BUNDLES = frozenset({"collection", "searchset", "history"})


class SeedError(Exception):
    """A seed file could not be read or loaded: the message names the file, line or entry, and path."""


@dataclass
class Seeded:
    """What :func:`seed` created.

    ``seeded["Patient/example"]`` is the created reference (``"Patient/3f2a..."``) of the resource written
    with that id in the files, ``seeded.id("Patient/example")`` its new id; a transaction Bundle entry is
    also found by its ``fullUrl``. ``created`` lists every created reference in order.
    """

    refs: dict[str, str] = field(default_factory=lambda: {})
    created: list[str] = field(default_factory=lambda: [])

    def __getitem__(self, ref: str) -> str:
        try:
            return self.refs[ref]
        except KeyError:
            raise KeyError(f"{ref} was not seeded (known: {len(self.refs)} references)") from None

    def __contains__(self, ref: object) -> bool:
        return ref in self.refs

    def __len__(self) -> int:
        return len(self.created)

    def id(self, ref: str) -> str:
        """The server id of the resource written as ``ref`` (``"Patient/example"``) in the files."""
        return self[ref].split("/", 1)[1]

    def count(self, resource_type: str) -> int:
        """How many resources of ``resource_type`` were created."""
        return sum(1 for ref in self.created if ref.split("/", 1)[0] == resource_type)


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix in _SUFFIXES and not any(part.startswith(".") for part in p.parts)
            )
            yield from found
        elif path.is_file():
            if path.suffix not in _SUFFIXES:
                raise SeedError(f"{path}: not a .json or .ndjson file")
            yield path
        else:
            raise SeedError(f"{path}: no such file or directory")


def _decode(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SeedError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, dict) or not isinstance(cast("dict[str, Any]", value).get("resourceType"), str):
        raise SeedError(f"{where}: not a FHIR resource (a JSON object with a resourceType)")
    return cast("dict[str, Any]", value)


def read_resources(paths: Iterable[str | Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every resource in ``paths`` as ``(where, json)``, in order; ``where`` is ``file``, ``file:line`` or
    ``file: Bundle.entry[i]``. Transaction and batch Bundles are yielded whole, other Bundles split."""
    for path in _files(paths):
        if path.suffix == ".ndjson":
            with path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        yield from _expand(f"{path}:{number}", _decode(line, f"{path}:{number}"))
        else:
            yield from _expand(str(path), _decode(path.read_bytes(), str(path)))


def _expand(where: str, resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if resource["resourceType"] != "Bundle" or resource.get("type") not in _SPLIT_BUNDLES:
        yield where, resource
        return
    raw: object = resource.get("entry") or []
    if not isinstance(raw, list):
        raise SeedError(f"{where}: Bundle.entry is not an array")
    for i, entry in enumerate(cast("list[object]", raw)):
        inner = cast("dict[str, Any]", entry).get("resource") if isinstance(entry, dict) else None
        if not isinstance(inner, dict) or not isinstance(cast("dict[str, Any]", inner).get("resourceType"), str):
            raise SeedError(f"{where}: Bundle.entry[{i}].resource is not a FHIR resource")
        yield f"{where}: Bundle.entry[{i}]", cast("dict[str, Any]", inner)


def _rewrite(value: Any, mapping: Mapping[str, str]) -> Any:
    """A copy of ``value`` with every ``reference`` found in ``mapping`` replaced."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in cast("dict[str, Any]", value).items():
            if key == "reference" and isinstance(item, str) and item in mapping:
                out[key] = mapping[item]
            else:
                out[key] = _rewrite(item, mapping)
        return out
    if isinstance(value, list):
        return [_rewrite(item, mapping) for item in cast("list[object]", value)]
    return value


class _Loader:
    def __init__(self, client: Clinik) -> None:
        self.client = client
        self.result = Seeded()
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.pending_bytes = 0

    def add(self, where: str, resource: dict[str, Any]) -> None:
        size = len(orjson.dumps(resource))
        if self.pending and (len(self.pending) >= CHUNK or self.pending_bytes + size > _CHUNK_BYTES):
            self.flush()
        self.pending.append((where, resource))
        self.pending_bytes += size

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending, self.pending_bytes = self.pending, [], 0
        local: dict[str, str] = {}
        urns: list[str] = []
        for _, resource in chunk:
            urn = f"urn:uuid:{uuid.uuid4()}"
            urns.append(urn)
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                local[f"{resource['resourceType']}/{rid}"] = urn
        mapping = {**self.result.refs, **local}
        entries: list[dict[str, Any]] = []
        for urn, (_, resource) in zip(urns, chunk, strict=True):
            body = cast("dict[str, Any]", _rewrite(resource, mapping))
            body.pop("id", None)  # the server assigns ids (no upsert at the gateway)
            entries.append(
                {"fullUrl": urn, "resource": body, "request": {"method": "POST", "url": body["resourceType"]}}
            )
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        locations = self.post(bundle, [f"{where}: {r['resourceType']}" for where, r in chunk])
        for location, (_, resource) in zip(locations, chunk, strict=True):
            rid = resource.get("id")
            if location is not None and isinstance(rid, str) and rid:
                self.result.refs[f"{resource['resourceType']}/{rid}"] = location

    def send_bundle(self, where: str, bundle: dict[str, Any]) -> None:
        entries = cast("list[Any]", bundle.get("entry") or [])
        if not entries:
            return
        body = cast("dict[str, Any]", _rewrite(bundle, self.result.refs))
        locations = self.post(body, [f"{where}: Bundle.entry[{i}].resource" for i in range(len(entries))])
        for location, entry in zip(locations, entries, strict=False):
            if location is None or not isinstance(entry, dict):
                continue
            e = cast("dict[str, Any]", entry)
            full_url = e.get("fullUrl")
            if isinstance(full_url, str) and full_url:
                self.result.refs[full_url] = location
            inner = e.get("resource")
            if isinstance(inner, dict):
                r = cast("dict[str, Any]", inner)
                if isinstance(r.get("id"), str) and r["id"]:
                    self.result.refs[f"{r['resourceType']}/{r['id']}"] = location

    def post(self, bundle: dict[str, Any], wheres: list[str]) -> list[str | None]:
        """Send one transaction/batch; the created ``Type/id`` of each entry (None when it created nothing)."""
        from clinikfhir.errors import ClinikError, LocalValidationError
        from clinikfhir.models import Bundle, OperationOutcome

        try:
            answer = self.client.request("POST", "/", bundle)
        except LocalValidationError as exc:
            lines = [
                f"{_where_of(issue.path, wheres)}: {issue.message}" + (f" [{issue.key}]" if issue.key else "")
                for issue in exc.issues
                if issue.is_error
            ]
            raise SeedError("seed data failed local validation:\n  " + "\n  ".join(lines)) from None
        except ClinikError as exc:
            raise SeedError(f"{_span(wheres)}: {exc}") from exc
        if not isinstance(answer, Bundle):
            raise SeedError(f"{_span(wheres)}: the server did not answer with a Bundle")
        out: list[str | None] = []
        failed: list[str] = []
        for i, entry in enumerate(answer.entry or []):
            response = entry.response
            status = response.status if response is not None and response.status else ""
            location = response.location if response is not None else None
            if not status.startswith("2"):
                reason = ""
                outcome = response.outcome if response is not None else None
                if isinstance(outcome, OperationOutcome) and outcome.issue:
                    reason = f" ({outcome.issue[0].code})"
                label = wheres[i].removesuffix(".resource") if i < len(wheres) else f"entry {i}"
                failed.append(f"{label}: {status}{reason}")
            if status.startswith("201") and location:
                ref = "/".join(str(location).split("/_history/", 1)[0].split("/")[-2:])
                out.append(ref)
                self.result.created.append(ref)
            else:
                out.append(None)
        if failed:
            raise SeedError("seed entries were refused by the server:\n  " + "\n  ".join(failed))
        return out


def _where_of(path: str, wheres: list[str]) -> str:
    """``Bundle.entry[3].resource.status`` -> ``<where of entry 3>.status`` (``file.json: Observation.status``)."""
    prefix = "Bundle.entry["
    if path.startswith(prefix):
        index, _, rest = path[len(prefix) :].partition("]")
        if index.isdigit() and int(index) < len(wheres):
            return wheres[int(index)] + rest.removeprefix(".resource")
    return f"{_span(wheres)}: {path}"


def _span(wheres: list[str]) -> str:
    if len(wheres) <= 1:
        return wheres[0] if wheres else "seed"
    files = sorted({w.split(":", 1)[0] for w in wheres})
    return files[0] if len(files) == 1 else f"{files[0]} (and {len(files) - 1} more files)"


def _references(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in cast("dict[str, Any]", value).items():
            if key == "reference" and isinstance(item, str):
                out.add(item)
            else:
                _references(item, out)
    elif isinstance(value, list):
        for item in cast("list[object]", value):
            _references(item, out)
    return out


def _dependency_order(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """``items`` with every referenced resource before the resources that reference it (file order
    otherwise; the members of a reference cycle keep their order)."""
    index = {
        f"{r['resourceType']}/{r['id']}": i
        for i, (_, r) in enumerate(items)
        if isinstance(r.get("id"), str) and r["id"]
    }
    needs = [{index[ref] for ref in _references(r, set()) if ref in index} - {i} for i, (_, r) in enumerate(items)]
    users: dict[int, list[int]] = {}
    for i, deps in enumerate(needs):
        for d in deps:
            users.setdefault(d, []).append(i)
    waiting = [len(deps) for deps in needs]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users.get(i, []):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    placed = set(order)
    order += [i for i in range(len(items)) if i not in placed]  # cycles: as written
    return [items[i] for i in order]


def seed(client: Clinik, *paths: str | Path) -> Seeded:
    """Create every resource found in ``paths`` (files or folders) through ``client``; see the module doc.

    Everything is read (and checked as JSON) before anything is sent; the loose resources go first, in
    dependency order, then the transaction and batch Bundles in file order. Meant for test-sized data.

    >>> seeded = seed(clinik, "tests/data/patients.ndjson")    # doctest: +SKIP
    >>> clinik.read(Patient, seeded.id("Patient/example"))     # doctest: +SKIP
    """
    loose: list[tuple[str, dict[str, Any]]] = []
    bundles: list[tuple[str, dict[str, Any]]] = []
    for where, resource in read_resources(paths):
        is_bundle = resource["resourceType"] == "Bundle" and resource.get("type") in ("transaction", "batch")
        (bundles if is_bundle else loose).append((where, resource))
    loader = _Loader(client)
    for where, resource in _dependency_order(loose):
        loader.add(where, resource)
    loader.flush()
    for where, bundle in bundles:
        loader.send_bundle(where, bundle)
    return loader.result
