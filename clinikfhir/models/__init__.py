"""The FHIR R4 model surface: fhir.resources R4B classes, imported on first use.

``from clinikfhir.models import Patient`` gives ``fhir.resources.R4B.patient.Patient``; nothing is
imported until a name is touched, so ``import clinikfhir`` stays cheap. Every R4 resource type is
readable: the 18 types R4B lacks come back as :class:`GenericResource`, which keeps their JSON.

Entry points: :func:`parse` (JSON text, bytes or dict -> the model for its ``resourceType``),
:func:`dump` (model -> JSON text) and :func:`resource_class` (type name -> class).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._generated.resource_types import R4_ONLY_TYPES, RESOURCE_TYPES

from ._generic import GenericResource
from ._io import ModelParseError, dump, parse, resource_class

if TYPE_CHECKING:
    from clinikfhir._generated.model_imports import *  # noqa: F403

__all__ = [
    "GenericResource",
    "ModelParseError",
    "R4_ONLY_TYPES",
    "RESOURCE_TYPES",
    "dump",
    "parse",
    "resource_class",
]


def __getattr__(name: str) -> Any:
    module = MODEL_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = getattr(importlib.import_module(module), name)
    globals()[name] = cls  # later lookups skip __getattr__
    return cls


def __dir__() -> list[str]:
    return sorted({*globals(), *MODEL_MODULES})
