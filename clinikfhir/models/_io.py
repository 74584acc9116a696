"""JSON <-> model conversion: the one place that knows how a resourceType becomes a class."""

from __future__ import annotations

import importlib
import json
from typing import Any

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._generated.resource_types import R4_ONLY_TYPES, RESOURCE_TYPES

from ._generic import GenericResource


class ModelParseError(ValueError):
    """The data is not a FHIR R4 resource these models can represent.

    ``problems`` lists ``(element path, message)`` pairs; messages never contain the data itself.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def resource_class(resource_type: str) -> type[Resource]:
    """The model class for an R4 resource type name (``GenericResource`` for R4-only types)."""
    if resource_type in R4_ONLY_TYPES:
        return GenericResource
    if resource_type not in RESOURCE_TYPES:
        raise ModelParseError(f"{resource_type!r} is not a FHIR R4 resource type")
    module = importlib.import_module(MODEL_MODULES[resource_type])
    cls: type[Resource] = getattr(module, resource_type)
    return cls


def parse(data: str | bytes | dict[str, Any]) -> Resource:
    """Parse JSON text, bytes or a decoded dict into the model for its ``resourceType``."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ModelParseError(f"not JSON (line {getattr(exc, 'lineno', '?')})") from None
    if not isinstance(data, dict):
        raise ModelParseError(f"a FHIR resource is a JSON object, not {type(data).__name__}")
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        raise ModelParseError("the JSON object has no resourceType")
    cls = resource_class(rtype)
    if cls is GenericResource:
        return GenericResource.from_json(data)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = [(fhirpath(rtype, err["loc"]), err["msg"]) for err in exc.errors(include_input=False)]
        raise ModelParseError(f"{rtype} does not match the R4 model ({len(problems)} problems)", problems) from None


def dump(model: Resource) -> str:
    """Serialise a model to compact FHIR JSON text."""
    if isinstance(model, GenericResource):
        return json.dumps(model.raw, ensure_ascii=False, separators=(",", ":"))
    return model.model_dump_json(exclude_none=True, by_alias=True)


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
