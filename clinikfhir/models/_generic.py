"""A resource of an R4 type that fhir.resources R4B has no model for, kept as its JSON."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.resource import Resource
from pydantic import ConfigDict, PrivateAttr


class GenericResource(Resource):
    """An R4-only resource (e.g. ``MedicinalProduct``): typed common elements, raw JSON kept whole.

    ``id`` and ``meta`` are available as on any resource; :attr:`raw` is the complete JSON object as
    received, and :func:`clinikfhir.models.dump` writes it back unchanged, so nothing is lost.
    """

    model_config = ConfigDict(extra="allow")
    __resource_type__ = "Resource"
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenericResource:
        common = {k: data[k] for k in ("id", "meta", "implicitRules", "language") if k in data}
        instance = cls.model_validate(common)
        instance._raw = dict(data)
        return instance

    @property
    def resource_type(self) -> str:
        """The resource's own ``resourceType`` (e.g. ``"SubstanceProtein"``)."""
        return str(self._raw.get("resourceType", "Resource"))

    @property
    def raw(self) -> dict[str, Any]:
        """The resource as JSON, with any change to ``id``/``meta`` applied."""
        data = dict(self._raw)
        for key, value in self.model_dump(mode="json", exclude_none=True, by_alias=True).items():
            if key != "resourceType":
                data[key] = value
        return data
