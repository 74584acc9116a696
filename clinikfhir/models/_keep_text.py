"""Models built by validation keep the text their dates and times were given as, so writes send it.

fhir.resources (through ``fhir_core``) validates ``date``/``dateTime``/``instant``/``time`` strings
into :mod:`datetime` objects, and converting those back respells the user's text (``.000Z`` becomes
``+00:00``, a seventh fraction digit is cut). The trusted read path keeps the text already (the
subclasses of ``_primitives``); this module makes ``Model.model_validate(...)``, ``Model(...)`` and
validated assignment keep it too, whichever way a model is built.

How: each of fhir_core's four validators first hands every full date or time string to one module
function, ``fhir_core.types.validate_leap_second(text, validator)``, and returns its answer when it
is not None (it answers only for leap seconds, which it keeps as text). :func:`install` wraps that
function: a leap second is answered as before; any other string is converted by the same pydantic
validator (the same checks and errors) and answered as the text-keeping subclass, equal to the plain
value. The function is looked up when called, so every model class gets it, whenever defined.

:func:`install` runs when ``clinikfhir.models`` is imported. ``fhir_core`` is not imported for it
(importing ``clinikfhir.models`` stays cheap): if it is not loaded yet, a finder on ``sys.meta_path``
applies the wrapper as soon as ``fhir_core.types`` is. A model validated before ``clinikfhir.models``
was first imported keeps pydantic's spelling. If fhir_core's validators do not call that function
(another fhir_core release), nothing is wrapped and a :class:`~clinikfhir.models.ModelVersionWarning`
says so.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

_TARGET = "fhir_core.types"
_HOOK = "validate_leap_second"
_lock = threading.Lock()


def install() -> None:
    """Make fhir.resources models keep date and time text: now, or when fhir_core.types loads."""
    module = sys.modules.get(_TARGET)
    if module is not None:
        keep_text(module)
        return
    with _lock:
        if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
            sys.meta_path.insert(0, _Finder())


def keep_text(types: ModuleType) -> bool:
    """Wrap ``types.validate_leap_second`` (once); False when fhir_core does not validate through it."""
    with _lock:
        original: Any = getattr(types, _HOOK, None)
        if getattr(original, "keeps_text", False):
            return True
        if original is None or not _validators_call_hook(types):
            warnings.warn(_version_warning(types), stacklevel=2)
            return False
        setattr(types, _HOOK, _wrap(original))
        return True


def _validators_call_hook(types: ModuleType) -> bool:
    """Whether fhir_core's Date (DateTime's too), Instant and Time validators ask the hook."""
    try:
        functions = [types.Date._validate, types.Instant._validate, types.Time._validate_time]
        return all(_HOOK in fn.__func__.__code__.co_names for fn in functions)
    except AttributeError:
        return False


def _version_warning(types: ModuleType) -> Warning:
    from ._versions import ModelVersionWarning

    version = getattr(sys.modules.get("fhir_core"), "__version__", "(unknown)")
    return ModelVersionWarning(
        f"fhir_core {version} ({types.__name__}) does not validate dates through {_HOOK}: "
        "models built by validation write dates and times in pydantic's spelling"
    )


def _wrap(original: Callable[[str, Callable[[Any], Any]], str | None]) -> Callable[..., Any]:
    # imported on first call: _primitives itself imports fhir_core.types, which may be loading now
    converter: list[Callable[[Any, str], Any]] = []

    def validate_leap_second(input_value: str, validator: Callable[[Any], Any]) -> Any:
        kept = original(input_value, validator)  # a leap second: its text, as fhir_core keeps it
        if kept is not None:
            return kept
        if not converter:
            from ._primitives import with_text

            converter.append(with_text)
        return converter[0](validator(input_value), input_value)

    validate_leap_second.keeps_text = True  # type: ignore[attr-defined]
    validate_leap_second.__wrapped__ = original  # type: ignore[attr-defined]
    validate_leap_second.__doc__ = original.__doc__
    return validate_leap_second


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``fhir_core.types`` as the path finder would, with a loader that wraps the hook after
    the module has run; steps aside (leaves ``sys.meta_path``) once it has done so."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


class _Loader(importlib.abc.Loader):
    """The module's own loader, then :func:`keep_text`; the module keeps its own loader afterwards."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        keep_text(module)
        with _lock:
            sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _Finder)]
