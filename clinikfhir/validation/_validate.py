"""The validator: model structure first, then the R4 rules fhir.resources does not check."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from clinikfhir.models._io import ModelParseError, fhirpath, resource_class

from ._issues import Issue


def validate(resource: Resource | dict[str, Any]) -> list[Issue]:
    """Every problem in ``resource`` (a model or its JSON), as issues with element paths."""
    if isinstance(resource, Resource):
        data: dict[str, Any] = resource.model_dump(mode="json", exclude_none=True, by_alias=True)
        if "resourceType" not in data:
            data["resourceType"] = resource.get_resource_type()
    else:
        data = resource
    rtype = data.get("resourceType") if isinstance(data, dict) else None
    if not isinstance(rtype, str):
        return [Issue("error", "structure", "Resource", "resourceType is missing", "structure")]
    try:
        cls = resource_class(rtype)
    except ModelParseError:
        return [Issue("error", "not-supported", rtype, "not a FHIR R4 resource type", "structure")]
    try:
        cls.model_validate(data)
    except ValidationError as exc:
        return [
            Issue("error", "structure", fhirpath(rtype, err["loc"]), err["msg"], "structure")
            for err in exc.errors(include_input=False, include_url=False)
        ]
    return []
