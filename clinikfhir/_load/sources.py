"""Reading FHIR JSON from the paths given on the command line: files, folders, NDJSON and archives.

``read_items(paths)`` yields one :class:`Item` per resource (a ``.json`` file is one item, each line
of an ``.ndjson`` file another) and one :class:`Problem` per thing that could not be read, in a
stable order: folders are walked sorted, with Synthea's shared-data Bundles
(``hospitalInformation*``, ``practitionerInformation*``) first because patient Bundles refer to them.
Archives (``.zip``, ``.tar.gz``/``.tgz``, ``.gz``) are read in memory, never extracted to disk, so a
member name cannot escape anywhere. Labels name the file, the archive member and the NDJSON line
(``export.zip!Patient.ndjson:3``); problems say what is wrong and where, never the content.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SUFFIXES", "Item", "Problem", "read_items"]

SUFFIXES = (".json", ".ndjson", ".jsonl", ".zip", ".tar.gz", ".tgz", ".gz")
_FIRST = ("hospitalInformation", "practitionerInformation")
_MAX_MEMBER = 1 << 30  # one archive member at most 1 GiB uncompressed: a bomb stops here


@dataclass(frozen=True, slots=True)
class Item:
    """One decoded JSON value (a resource, a Bundle, or something that is neither) and where it came from."""

    label: str
    data: Any
    size: int | None = None  # bytes of the JSON it was decoded from


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that could not be read: ``label`` (file[:line]), ``rule`` and a message without content."""

    label: str
    rule: str
    message: str


def _order(name: str) -> tuple[int, str]:
    return (0 if name.startswith(_FIRST) else 1, name)


def _suffix(name: str) -> str:
    lower = name.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    return ""


def _walk(root: Path) -> Iterator[Path]:
    entries = sorted(root.iterdir(), key=lambda p: _order(p.name))
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)
        elif entry.is_file() and _suffix(entry.name):
            yield entry


def _decode_json(label: str, data: bytes) -> Item | Problem:
    try:
        return Item(label, orjson.loads(data), len(data))
    except orjson.JSONDecodeError as exc:
        return Problem(label, "json", f"not valid JSON (line {exc.lineno}, column {exc.colno})")


def _ndjson(label: str, data: bytes) -> Iterator[Item | Problem]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield _decode_json(f"{label}:{number}", line)


def _document(label: str, name: str, data: bytes, depth: int) -> Iterator[Item | Problem]:
    suffix = _suffix(name)
    if suffix in (".ndjson", ".jsonl"):
        yield from _ndjson(label, data)
    elif suffix == ".json":
        yield _decode_json(label, data)
    elif depth >= 2:
        yield Problem(label, "archive", "archives nested more than two deep are not read")
    elif suffix == ".zip":
        yield from _zip(label, data, depth + 1)
    elif suffix in (".tar.gz", ".tgz"):
        yield from _tar(label, data, depth + 1)
    elif suffix == ".gz":
        try:
            inner = _gunzip(data)
        except (OSError, EOFError, ValueError) as exc:
            yield Problem(label, "archive", f"not a readable gzip file ({type(exc).__name__})")
            return
        yield from _document(label, name[: -len(".gz")], inner, depth + 1)
    else:
        yield Problem(label, "file", "not a .json, .ndjson or archive file")


def _gunzip(data: bytes) -> bytes:
    import gzip  # here and in _zip, _tar: the archive modules are imported only when an archive is read

    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        out = stream.read(_MAX_MEMBER + 1)
    if len(out) > _MAX_MEMBER:
        raise ValueError("member too large")
    return out


def _zip(label: str, data: bytes, depth: int) -> Iterator[Item | Problem]:
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        yield Problem(label, "archive", f"not a readable zip file ({type(exc).__name__})")
        return
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and _suffix(i.filename)]
        for info in sorted(infos, key=lambda i: _order(i.filename.rsplit("/", 1)[-1])):
            where = f"{label}!{info.filename}"
            if info.file_size > _MAX_MEMBER:
                yield Problem(where, "archive", "member larger than 1 GiB uncompressed; not read")
                continue
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                yield Problem(where, "archive", f"member could not be read ({type(exc).__name__})")
                continue
            yield from _document(where, info.filename, content, depth)


def _tar(label: str, data: bytes, depth: int) -> Iterator[Item | Problem]:
    import tarfile

    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115  (closed by the with below)
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield Problem(label, "archive", f"not a readable tar archive ({type(exc).__name__})")
        return
    with archive:
        try:
            members = [m for m in archive.getmembers() if m.isfile() and _suffix(m.name)]
        except (tarfile.TarError, OSError, EOFError) as exc:
            yield Problem(label, "archive", f"the archive is damaged ({type(exc).__name__})")
            return
        for member in sorted(members, key=lambda m: _order(m.name.rsplit("/", 1)[-1])):
            where = f"{label}!{member.name}"
            if member.size > _MAX_MEMBER:
                yield Problem(where, "archive", "member larger than 1 GiB; not read")
                continue
            stream = archive.extractfile(member)
            if stream is None:
                continue
            try:
                content = stream.read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                yield Problem(where, "archive", f"member could not be read ({type(exc).__name__})")
                continue
            yield from _document(where, member.name, content, depth)


def files_of(paths: Iterable[str]) -> Iterator[Path | Problem]:
    """Every readable file named by ``paths`` (folders walked), or a problem for a path that is not."""
    for text in paths:
        path = Path(text)
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield path
        else:
            yield Problem(text, "file", "no such file or folder")


def read_items(paths: Iterable[str]) -> Iterator[Item | Problem]:
    """Every JSON value in ``paths``, in order (see the module docstring)."""
    for found in files_of(paths):
        if isinstance(found, Problem):
            yield found
            continue
        label = os.fspath(found)
        try:
            data = found.read_bytes()
        except OSError as exc:
            yield Problem(label, "file", f"cannot be read ({exc.strerror or type(exc).__name__})")
            continue
        yield from _document(label, found.name, data, 0)
