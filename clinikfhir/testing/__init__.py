"""Testing code that uses clinikfhir: a pytest plugin and a seed loader.

The plugin (:mod:`clinikfhir.testing.plugin`) is registered through the ``pytest11`` entry point, so
installing clinikfhir is enough: the fixtures ``clinik``, ``async_clinik``, ``clinik_sandbox``,
``clinik_sandbox_http``, ``clinik_key``, ``clinik_tenant``, ``clinik_faults`` and ``clinik_seeded``
and the markers ``clinik_seed`` and ``clinik_faults`` need no conftest.

:func:`seed` loads JSON, NDJSON, Bundle files and archives through any :class:`~clinikfhir.Clinik`,
with the loader of ``clinikfhir load``.
"""

from __future__ import annotations

from ._seed import Seeded, SeedError, seed

__all__ = ["SeedError", "Seeded", "seed"]
