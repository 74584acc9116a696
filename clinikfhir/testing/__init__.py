"""Testing code that uses clinikfhir: a pytest plugin and a seed loader.

The plugin (:mod:`clinikfhir.testing.plugin`) is registered through the ``pytest11`` entry point, so
installing clinikfhir is enough: the fixtures ``clinik``, ``async_clinik``, ``clinik_sandbox``,
``clinik_sandbox_http``, ``clinik_key``, ``clinik_tenant``, ``clinik_faults`` and ``clinik_seeded``
and the markers ``clinik_seed`` and ``clinik_faults`` need no conftest.

:func:`seed` loads JSON, NDJSON and Bundle files through any :class:`~clinikfhir.Clinik`.
"""

from __future__ import annotations

from ._seed import CHUNK, Seeded, SeedError, read_resources, seed

__all__ = ["CHUNK", "SeedError", "Seeded", "read_resources", "seed"]
