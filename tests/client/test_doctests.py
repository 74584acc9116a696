"""The examples in every module's docstrings run and hold (the doctests of the whole package).

Every module of ``clinikfhir`` except the generated tables is imported and its examples run; a
module whose examples cannot run here marks them ``# doctest: +SKIP`` where they stand.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from typing import Any

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


class _Finder(doctest.DocTestFinder):
    """Also finds the examples of classes shown as ``clinikfhir.X`` (``clinikfhir._public``): doctest
    takes a class whose ``__module__`` is not the module for an import and would skip them."""

    def _from_module(self, module: Any, object: Any) -> bool:
        if inspect.isclass(object) and object.__module__ == "clinikfhir" and module is not None:
            return vars(module).get(object.__name__) is object
        return bool(super()._from_module(module, object))  # type: ignore[misc]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(module)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
    for test in _Finder().find(mod, mod.__name__):
        runner.run(test)
    assert runner.failures == 0


def test_the_examples_of_classes_shown_as_clinikfhir_are_found() -> None:
    import clinikfhir.client

    names = {t.name for t in _Finder().find(clinikfhir.client, "clinikfhir.client") if t.examples}
    assert "clinikfhir.client.Clinik" in names
