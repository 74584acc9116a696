"""Emit the index of fhir.resources R4B model classes: class name -> module, for lazy loading.

Two modules come out: ``model_index`` (a dict used at run time by ``clinikfhir.models``) and
``model_imports`` (``__all__``, the class names, cheap at run time; and explicit re-exports under
``TYPE_CHECKING`` so that IDEs and type checkers see every class while ``import clinikfhir`` imports
none of them). ``clinikfhir.models`` extends its ``__all__`` with it, a form pyright and mypy read.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

from ._common import GENERATED, header

HEAD = header("codegen/model_index.py")


@functools.cache
def model_classes() -> dict[str, str]:
    """Map every FHIR model class defined in fhir.resources.R4B to its defining module."""
    import fhir.resources.R4B as r4b
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    found: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(r4b.__path__), key=lambda m: m.name):
        if info.name.startswith("fhirtypes") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{r4b.__name__}.{info.name}")
        for name, obj in sorted(vars(module).items()):
            if inspect.isclass(obj) and issubclass(obj, FHIRAbstractModel) and obj.__module__ == module.__name__:
                if name in found:
                    raise SystemExit(f"model class {name} defined in two modules")
                found[name] = module.__name__
    return dict(sorted(found.items()))


def emit() -> dict[str, str]:
    import fhir.resources

    from .model_types import stub_modules

    classes = model_classes()
    typed = stub_modules()  # classes with a typed stub (codegen/model_types.py) are re-exported from it
    version = getattr(fhir.resources, "__version__", "unknown")
    index = [
        HEAD + f"# Model source: fhir.resources {version} (R4B package).",
        '"""Where each fhir.resources R4B model class lives (class name -> module)."""',
        "",
        "from typing import Final",
        "",
        f"FHIR_RESOURCES_VERSION: Final = {version!r}",
        "",
        "MODEL_MODULES: Final[dict[str, str]] = {",
        *(f"    {name!r}: {module!r}," for name, module in classes.items()),
        "}",
        "",
    ]
    imports = [
        HEAD + f"# Model source: fhir.resources {version} (R4B package).",
        "# pyright: reportMissingModuleSource=false",
        "# (the typed classes come from stub-only modules, codegen/model_types.py: no source by design)",
        '"""Every R4B model class name (``__all__``, cheap at run time) and, for type checkers only, its class."""',
        "",
        "from typing import TYPE_CHECKING",
        "",
        "if TYPE_CHECKING:",
        *(f"    from {typed.get(name, module)} import {name} as {name}" for name, module in classes.items()),
        "",
        "__all__ = [",
        *(f"    {name!r}," for name in classes),
        "]",
        "",
    ]
    return {
        f"{GENERATED}/model_index.py": "\n".join(index),
        f"{GENERATED}/model_imports.py": "\n".join(imports),
    }
