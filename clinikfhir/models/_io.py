"""JSON <-> model conversion: the one place that knows how a resourceType becomes a class.

Reads (:func:`parse`) take the trusted path by default: the JSON is decoded once with orjson and
models are built from generated plans without pydantic re-validation (see ``_trusted``); whatever
does not fit the plan falls back to full validation for that resource, with a
:class:`ModelFallbackWarning`, or a :class:`ModelParseError` when validation rejects it too.
``strict=True`` validates everything. Writes (:func:`dump`, :func:`dump_bytes`) are lossless.
"""

from __future__ import annotations

import gc
import importlib
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._generated.resource_types import R4_ONLY_TYPES, RESOURCE_TYPES

from ._json import JSONDecodeFailure, decode_marked

if TYPE_CHECKING:
    from fhir.resources.R4B.resource import Resource


class ModelParseError(ValueError):
    """The data is not a FHIR R4 resource these models can represent.

    ``problems`` lists ``(element path, message)`` pairs; messages never contain the data itself.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ModelFallbackWarning(UserWarning):
    """Trusted data did not fit the model plan; the resource was read through full validation.

    ``path`` names the element (FHIRPath style) and ``reason`` what was wrong; never the value.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}; the resource was read through full pydantic validation")
        self.path = path
        self.reason = reason


def resource_class(resource_type: str) -> type[Resource]:
    """The model class for an R4 resource type name (``GenericResource`` for R4-only types)."""
    if resource_type in R4_ONLY_TYPES:
        from ._generic import GenericResource

        return GenericResource
    if resource_type not in RESOURCE_TYPES:
        raise ModelParseError(f"{resource_type!r} is not a FHIR R4 resource type")
    module = importlib.import_module(MODEL_MODULES[resource_type])
    cls: type[Resource] = getattr(module, resource_type)
    return cls


def _load(data: str | bytes | bytearray | memoryview | dict[str, Any]) -> Any:
    if isinstance(data, dict):
        return data
    if not isinstance(data, (str, bytes, bytearray, memoryview)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ModelParseError(f"cannot parse a {type(data).__name__}: expected JSON text, bytes or a dict")
    try:
        return decode_marked(data)[0]
    except JSONDecodeFailure as exc:
        raise ModelParseError(str(exc)) from None


def _validate(cls: type[Resource], rtype: str, data: Any, first: tuple[str, str] | None = None) -> Resource:
    """Full pydantic validation; every failure becomes a ModelParseError listing paths, no values."""
    from pydantic import ValidationError

    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = [(fhirpath(rtype, err["loc"]), err["msg"]) for err in exc.errors(include_input=False)]
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        # fhir.resources raises raw KeyErrors for resource types it has no model for (R4-only
        # types inside a Bundle); report the kind of failure, never its text (it may hold data).
        problems = [(rtype, f"the R4B model cannot represent this resource ({type(exc).__name__})")]
    if first is not None and first not in problems:
        problems.insert(0, first)
    raise ModelParseError(f"{rtype} does not match the R4 model ({len(problems)} problems)", problems)


def parse(data: str | bytes | dict[str, Any], *, strict: bool = False) -> Resource:
    """Parse JSON text, bytes or a decoded dict into the model for its ``resourceType``.

    By default the data is trusted (server-validated): models are built directly from generated
    plans, losslessly (decimal digits, date-time spellings, unknown-but-valid elements are kept).
    Data that does not fit is validated in full instead (a :class:`ModelFallbackWarning` says
    where); if validation rejects it, :class:`ModelParseError` lists every problem's path.
    ``strict=True`` runs full pydantic validation on everything (and still returns the lossless
    model when it passes). Never raises anything but :class:`ModelParseError` for bad data.
    """
    # One pause of the cyclic GC for decoding and building: resuming it in between would make
    # the collector scan the whole decoded page once, only for the page to be dropped afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(data, strict)
    finally:
        if was_enabled:
            gc.enable()


def _parse(data: str | bytes | dict[str, Any], strict: bool) -> Resource:
    from ._trusted import Mismatch, build, plain, spec

    loaded = _load(data)
    if not isinstance(loaded, dict):
        raise ModelParseError(f"a FHIR resource is a JSON object, not {type(loaded).__name__}")
    value = cast("dict[str, Any]", loaded)
    rtype = value.get("resourceType")
    if not isinstance(rtype, str):
        raise ModelParseError("the JSON object has no resourceType")
    cls = resource_class(rtype)
    if rtype in R4_ONLY_TYPES:
        from ._generic import GenericResource

        try:
            return GenericResource.from_json(plain(value))
        except ValueError as exc:  # pydantic's ValidationError on the common elements (id, meta)
            raise ModelParseError(f"{rtype}: its id, meta or language are not valid ({type(exc).__name__})") from None
    sp = spec(rtype)
    if strict:
        validated = _validate(cls, rtype, plain(value))
        try:
            return cast("Resource", build(sp, value))  # the lossless twin of what passed
        except Mismatch:
            return validated
    try:
        return cast("Resource", build(sp, value))
    except Mismatch as exc:
        path = fhirpath(rtype, tuple(reversed(exc.path)))
        validated = _validate(cls, rtype, plain(value), (path, exc.message))
        warnings.warn(ModelFallbackWarning(path, exc.message), stacklevel=3)
        return validated
    except RecursionError:
        raise ModelParseError(f"{rtype} is nested too deeply to read") from None


_T = TypeVar("_T")


def _build_quietly(fn: Callable[..., _T], *args: Any) -> _T:
    """Run the builder with the cyclic garbage collector paused.

    A page builds thousands of acyclic objects; letting the collector rescan the growing heap
    every 700 allocations costs more than the building itself. The collector is re-enabled
    afterwards only if it was enabled before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return fn(*args)
    finally:
        if was_enabled:
            gc.enable()


def dump_bytes(model: Resource) -> bytes:
    """Serialise a model to compact FHIR JSON (UTF-8 bytes), losslessly: decimals keep their
    digits, dates and times the text they were read with, kept unknown elements are written back."""
    from ._trusted import dump_bytes as _dump_bytes

    return _build_quietly(_dump_bytes, model)


def dump(model: Resource) -> str:
    """Serialise a model to compact FHIR JSON text (see :func:`dump_bytes`)."""
    return dump_bytes(model).decode("utf-8")


def fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a FHIRPath-style element path: ``Patient.name[0].given[1]``."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.endswith("__ext"):  # fhir.resources names primitive extensions foo__ext
            out += "._" + part[: -len("__ext")]
        else:
            out += "." + part
    return out
