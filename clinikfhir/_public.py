"""Public names show as ``clinikfhir.X`` (reprs, tracebacks, ``help()``), as httpx does for its own.

>>> class Example:
...     pass
>>> shown_as_root(Example).__module__
'clinikfhir'
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

_T = TypeVar("_T")

ROOT = "clinikfhir"


def shown_as_root(obj: _T) -> _T:
    """Set ``obj.__module__`` to ``clinikfhir``, where every public name is exported.

    Pickling keeps working: pickle finds a class by ``__module__`` and name, and the package root
    resolves every public name. A dataclass's string annotations are resolved first, in its own
    module, since tools that build on them (pydantic, ``typing.get_type_hints``) look names up in
    ``__module__``, which would no longer hold them.
    """
    target: Any = obj  # a class or a function
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        target.__annotations__ = hints
        for field in dataclasses.fields(target):
            field.type = hints[field.name]
    target.__module__ = ROOT
    return obj
