"""The FHIR R4 model surface: fhir.resources R4B classes, imported on first use.

``from clinikfhir.models import Patient`` gives ``fhir.resources.R4B.patient.Patient``; nothing is
imported until a name is touched, so ``import clinikfhir`` stays cheap. Every R4 resource type is
readable: the 18 types R4B lacks come back as :class:`GenericResource`, which keeps their JSON.

Entry points: :func:`parse` (JSON text, bytes or dict -> the model for its ``resourceType``; fast
trusted path by default, ``strict=True`` for full validation), :func:`dump` / :func:`dump_bytes`
(model -> lossless JSON), :func:`decode` / :func:`encode` (exact JSON <-> Python data, decimals
kept digit for digit), :func:`decode_lazy` + :func:`plain` (orjson-speed decoding of a page whose
entries are typed later by :func:`parse`), :func:`unmodelled` (elements kept that the R4B model has no field for) and
:func:`resource_class` (type name -> class).

Type checkers and editors see typed stubs of these classes (``clinikfhir._generated.model_types``,
generated from the R4 definitions): every field of every resource, datatype and backbone element
typed from R4 at every depth (``p.contact[0].gender`` is a ``Literal``), dates that accept their
string form, and each element's R4 short definition on hover. The run-time classes are unchanged.
For the checkers the stubs descend from a plain typed root, not from ``pydantic.BaseModel`` (so that
editors complete ``Patient(`` fast): the pydantic and fhir.resources model API is typed on them, but
passing a model where ``BaseModel`` is declared is a type error (it is one at run time; annotate
with :class:`FHIRModel`, any model, instead), and the classes the client is typed for are these, not
those imported from ``fhir.resources.R4B``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clinikfhir._generated import model_imports as _model_imports

if TYPE_CHECKING:
    from clinikfhir._generated.model_imports import *  # noqa: F403
    from clinikfhir._generated.model_types._base import FHIRModel  # pyright: ignore[reportMissingModuleSource]
    from clinikfhir._generated.resource_types import R4_ONLY_TYPES, RESOURCE_TYPES
    from clinikfhir.errors import ModelParseError

    from ._generic import GenericResource
    from ._io import ModelFallbackWarning, dump, dump_bytes, parse, resource_class
    from ._json import JSONDecodeFailure, decode, decode_lazy, encode

# Imported on first use, like the model classes: ``import clinikfhir.models`` stays cheap.
_LAZY = {
    "R4_ONLY_TYPES": "clinikfhir._generated.resource_types",
    "RESOURCE_TYPES": "clinikfhir._generated.resource_types",
    "ModelParseError": "clinikfhir.errors",
    "FHIRModel": "fhir_core.fhirabstractmodel",  # its FHIRAbstractModel: the base of every model
    "GenericResource": "clinikfhir.models._generic",
    "ModelFallbackWarning": "clinikfhir.models._io",
    "dump": "clinikfhir.models._io",
    "dump_bytes": "clinikfhir.models._io",
    "parse": "clinikfhir.models._io",
    "resource_class": "clinikfhir.models._io",
    "JSONDecodeFailure": "clinikfhir.models._json",
    "decode": "clinikfhir.models._json",
    "decode_lazy": "clinikfhir.models._json",
    "encode": "clinikfhir.models._json",
}

__all__ = [
    "R4_ONLY_TYPES",
    "RESOURCE_TYPES",
    "FHIRModel",
    "GenericResource",
    "JSONDecodeFailure",
    "ModelFallbackWarning",
    "ModelParseError",
    "decode",
    "decode_lazy",
    "dump",
    "dump_bytes",
    "encode",
    "parse",
    "plain",
    "resource_class",
    "unmodelled",
]
# Every R4B model class, as explicit re-exports that pyright (all modes) and mypy accept and complete.
__all__ += _model_imports.__all__


def plain(value: Any) -> Any:
    """JSON data from :func:`decode_lazy` with any exact-number markers made ``Decimal`` again."""
    from ._trusted import plain as _plain

    return _plain(value)


def unmodelled(model: Any) -> dict[str, Any]:
    """Elements read into ``model`` (not its children) that its R4B class has no field for.

    Valid R4 content that R4B cannot hold is kept here rather than dropped, and written back by
    :func:`dump`. Empty for models built by validation or by hand.
    """
    extra: dict[str, Any] | None = getattr(model, "__pydantic_extra__", None)
    if getattr(model.__class__, "keeps_raw_json", False) or not extra:
        return {}
    return {**extra}


def __getattr__(name: str) -> Any:
    from clinikfhir._generated.model_index import MODEL_MODULES

    module = _LAZY.get(name) or MODEL_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), "FHIRAbstractModel" if name == "FHIRModel" else name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    from clinikfhir._generated.model_index import MODEL_MODULES

    return sorted({*globals(), *_LAZY, *MODEL_MODULES})
