"""Load FHIR files into a server through a :class:`~clinikfhir.Clinik`: the seed behind the pytest
plugin's ``@pytest.mark.clinik_seed``, run by the same loader as ``clinikfhir load``
(:mod:`clinikfhir._load.loader`).

Files: ``.json`` (one resource, or a Bundle), ``.ndjson``, folders (read in name order) and
``.zip``/``.tar.gz``/``.gz`` archives. Transaction and batch Bundles are sent as they are (their
``urn:uuid`` references resolved by the server); every other resource (single files, NDJSON lines,
the entries of collection and searchset Bundles) is created on its own, after the resources it refers
to: the server assigns new ids (the gateway has no upsert) and references between seeded resources
(``Patient/example`` in an Observation) are rewritten to the created ones. Each seeded resource
carries the loader's tag (``meta.tag`` ``urn:clinikfhir:load``), so seeding the same files again into
the same tenant creates nothing twice. :class:`Seeded` maps each reference as written in the files
to the one on the server.

Errors name the file (and line or entry) and the element path, never a value from the file.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from clinikfhir._load.loader import LoadReport
    from clinikfhir.client import Clinik

__all__ = ["SeedError", "Seeded", "seed"]

T = TypeVar("T")


class SeedError(Exception):
    """Seed data could not be loaded: the message lists each problem's file (line or entry), element
    path and rule, never a value."""


@dataclass
class Seeded:
    """What :func:`seed` loaded.

    ``seeded["Patient/example"]`` is the server's reference (``"Patient/3f2a..."``) of the resource
    written with that id in the files, ``seeded.id("Patient/example")`` its new id; a transaction
    Bundle entry is also found by its ``fullUrl``. ``created`` lists every created reference in order.
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


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end, from plain code or from inside a running event loop (an async test)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def problems(report: LoadReport) -> str:
    """The report's refusals (and why it stopped), one per line: ``file[:line]: path: message [rule]``."""
    lines = [": ".join(part for part in (r.label, r.path, r.message) if part) + f" [{r.rule}]" for r in report.refusals]
    if report.aborted:
        lines.append(f"stopped: {report.aborted}")
    return "\n  ".join(lines)


def seed(client: Clinik, *paths: str | Path) -> Seeded:
    """Load every resource found in ``paths`` (files, folders, archives) through ``client``, with the
    loader of ``clinikfhir load`` (checked locally first, never loaded twice; see the module doc).

    Raises :class:`SeedError` listing every problem (file, element path, rule; never a value) when
    anything was refused; what was accepted stays loaded.

    >>> seeded = seed(clinik, "tests/data/patients.ndjson")    # doctest: +SKIP
    >>> clinik.read(Patient, seeded.id("Patient/example"))     # doctest: +SKIP
    """
    from clinikfhir._load.loader import Loader

    loader = Loader(client, concurrency=1)
    report = _run(loader.run([os.fspath(p) for p in paths]))
    if not report.ok:
        raise SeedError(
            "seed data was not loaded (file, element path and rule; values are never shown):\n  " + problems(report)
        )
    return Seeded(refs=dict(report.refs), created=list(report.created_refs))
