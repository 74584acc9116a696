"""The examples in every module's docstrings run and hold (the doctests of the whole package).

Every module of ``clinikfhir`` except the generated tables is imported and its examples run; a
module whose examples cannot run here marks them ``# doctest: +SKIP`` where they stand.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import clinikfhir


def _modules() -> list[str]:
    names = ["clinikfhir"]
    for info in pkgutil.walk_packages(clinikfhir.__path__, "clinikfhir."):
        if info.name.startswith("clinikfhir._generated") or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_every_module_is_walked() -> None:
    assert {"clinikfhir.patch", "clinikfhir.errors", "clinikfhir.bundle", "clinikfhir._syntax"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
