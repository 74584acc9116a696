"""JSON <-> model conversion: the one place that knows how a resourceType becomes a class.

Reads (:func:`parse`) take the trusted path by default: the JSON is decoded once with orjson and
models are built from generated plans without pydantic re-validation (see ``_trusted``); whatever
does not fit the plan falls back to full validation for that resource, with a
:class:`ModelFallbackWarning`, or a :class:`ModelParseError` when validation rejects it too.
``strict=True`` validates everything. Writes (:func:`dump`, :func:`dump_bytes`) are lossless, and
send dates and times as the user wrote them however the model was built (see ``_keep_text``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._generated.resource_types import R4_ONLY_TYPES, RESOURCE_TYPES
from clinikfhir.errors import ModelParseError

from ._json import JSONDecodeFailure, decode_marked, gc_paused
from ._keep_text import install
from ._versions import trusted_reads

if TYPE_CHECKING:
    from clinikfhir.models import Resource


class ModelFallbackWarning(UserWarning):
    """Trusted data did not fit the model plan; the resource was read through full validation.

    ``path`` names the element (FHIRPath style) and ``reason`` what was wrong; never the value.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}; the resource was read through full pydantic validation")
        self.path = path
        self.reason = reason


# models built by validation keep their date and time text (for writes), from now on
install()

_NOT_A_TYPE = "resourceType is not a FHIR R4 resource type"
# Issue keys of the structural walk that are about the JSON itself (types, shapes, unknown elements):
# strict reads refuse them; the rest (required elements, formats, ele-1, ext-1) and the semantic
# checks (bindings, references, invariants) are the validation package's business, not the models'.
_JSON_KEYS = frozenset({"type", "structure", "unknown-element"})


def resource_class(resource_type: str) -> type[Resource]:
    """The model class for an R4 resource type name (``GenericResource`` for R4-only types)."""
    if resource_type in R4_ONLY_TYPES:
        from ._generic import GenericResource

        return GenericResource
    if resource_type not in RESOURCE_TYPES:
        raise ModelParseError(_NOT_A_TYPE, [("resourceType", _NOT_A_TYPE)])
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
        problems = [_problem(rtype, err["type"], err["loc"], err["msg"]) for err in exc.errors(include_input=False)]
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        # fhir.resources raises raw KeyErrors for resource types it has no model for (R4-only
        # types inside a Bundle); report the kind of failure, never its text (it may hold data).
        problems = [(rtype, f"the R4B model cannot represent this resource ({type(exc).__name__})")]
    if first is not None and first not in problems:
        problems.insert(0, first)
    raise ModelParseError(f"{rtype} does not match the R4 model ({len(problems)} problems)", problems)


def _problem(rtype: str, kind: str, loc: tuple[int | str, ...], message: str) -> tuple[str, str]:
    """One pydantic error as (path, message). An unknown element is reported at its parent: its
    name is the caller's text, not structure."""
    if kind == "extra_forbidden":
        return fhirpath(rtype, loc[:-1]), "unknown element"
    return fhirpath(rtype, loc), message


def _json_problems(value: dict[str, Any]) -> list[tuple[str, str]]:
    """JSON-level problems (wrong JSON types, shapes, unknown elements) found by the structural walk
    that the validator shares (``clinikfhir._structure``, below the models), unknown elements
    reported at their parent element (their names are the caller's)."""
    # imported here for start-up time only (the element tables are ~0.1 s; most reads are not
    # strict): _structure sits below models, so this hides no cycle
    from clinikfhir._structure import structure_issues

    problems: list[tuple[str, str]] = []
    for issue in structure_issues(value):
        if issue.severity not in ("error", "fatal"):
            continue
        # an array for a single value (or too many values) is the JSON's shape; a missing required
        # element (issue code "required") is not a JSON type question (pydantic reports those for
        # modelled types). Filtered on the issue's structured fields (key, code), never its wording.
        shape = issue.key == "cardinality" and issue.code != "required"
        if issue.key not in _JSON_KEYS and not shape:
            continue
        if issue.key == "unknown-element":
            if issue.path.endswith(".fhir_comments"):  # read and written back by the models
                continue
            problems.append((_holder(issue.path, value), "unknown element"))
        elif issue.path == "Resource.resourceType":  # the walk's fixed path for an unknown top-level type
            problems.append(("resourceType", issue.message))
        else:
            problems.append((issue.path, issue.message))
    return problems


def _holder(path: str, value: Any) -> str:
    """The path of the element holding an unknown element reported at ``path`` (``<holder>.<name>``):
    the name is the caller's text and may itself contain dots, so the longest key of the data that
    ends the path is taken off."""
    keys: set[str] = set()
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            obj = cast("dict[str, Any]", node)
            keys.update(obj)
            stack.extend(obj.values())
        elif isinstance(node, list):
            stack.extend(node)  # pyright: ignore[reportUnknownArgumentType]
    ends = [k for k in keys if path.endswith("." + k)]
    if not ends:
        return path.split(".")[0]
    return path[: -len(max(ends, key=len)) - 1]


def _strict(cls: type[Resource], rtype: str, value: dict[str, Any]) -> Resource:
    """Strict read: R4 JSON types are exact (no ``"yes"``/``1`` for a boolean, no ``"1"`` for an
    integer, no string for a decimal), no unknown elements, then full pydantic validation."""
    from ._trusted import Mismatch, build, plain, spec

    problems: list[tuple[str, str]] = []
    built: Resource | None = None
    try:
        if trusted_reads():
            built = cast("Resource", build(spec(rtype), value))
    except Mismatch as exc:
        problems.append((fhirpath(rtype, tuple(reversed(exc.path))), exc.message))
    except RecursionError:
        raise ModelParseError(f"{rtype} is nested too deeply to read") from None
    problems.extend(p for p in _json_problems(plain(value)) if p not in problems)
    validated: Resource | None = None
    try:
        validated = _validate(cls, rtype, plain(value))
    except ModelParseError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        first = list({path: (path, message) for path, message in reversed(problems)}.values())[::-1]
        raise ModelParseError(f"{rtype} does not match the R4 model ({len(first)} problems)", first)
    result = built if built is not None else validated
    assert result is not None  # no problems: validation passed
    return result


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
    with gc_paused():
        return _parse(data, strict)


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

        if strict:
            problems = _json_problems(plain(value))
            if problems:
                raise ModelParseError(f"{rtype} does not match the R4 model ({len(problems)} problems)", problems)
        try:
            return GenericResource.from_json(plain(value))
        except Mismatch as exc:  # the common elements (id, meta, language) are not valid
            path = fhirpath(rtype, tuple(reversed(exc.path)))
            raise ModelParseError(f"{rtype}: its id, meta or language are not valid", [(path, exc.message)]) from None
    if strict:
        return _strict(cls, rtype, value)
    if not trusted_reads():  # versions the plans were not made for: validation, as strict=True does
        return _validate(cls, rtype, plain(value))
    sp = spec(rtype)
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
    """Run the builder with the cyclic garbage collector paused (see :func:`gc_paused`)."""
    with gc_paused():
        return fn(*args)


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
