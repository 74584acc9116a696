"""A resource of an R4 type that fhir.resources R4B has no model for, kept as its JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict, PrivateAttr, ValidationError

if TYPE_CHECKING:  # the typed stub (the same class at run time): see codegen/model_types.py
    from clinikfhir.models import Resource
else:
    from fhir.resources.R4B.resource import Resource

_COMMON = ("id", "meta", "implicitRules", "_implicitRules", "language", "_language")


class GenericResource(Resource):
    """An R4-only resource (e.g. ``MedicinalProduct``): typed common elements, raw JSON kept whole.

    ``id`` and ``meta`` are available as on any resource; :attr:`raw` is the complete JSON object as
    received, and :func:`clinikfhir.models.dump` writes it back unchanged, so nothing is lost.
    """

    model_config = ConfigDict(extra="allow")
    __resource_type__ = "Resource"
    keeps_raw_json: ClassVar[bool] = True
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenericResource:
        """Wrap decoded JSON (``resourceType`` must be present); common elements become typed."""
        from ._trusted import Mismatch, build, spec
        from ._versions import trusted_reads

        common = {k: data[k] for k in _COMMON if k in data}
        if not trusted_reads():  # versions the plans were not made for
            fields = cls._validated_fields(common)
        else:
            try:
                base = build(spec("Resource"), common)
                fields = {k: v for k, v in base.__dict__.items() if v is not None}
            except Mismatch as exc:  # a reported fallback: validation may coerce (``"true"`` -> true)
                import warnings

                from ._io import ModelFallbackWarning, fhirpath

                rtype = data.get("resourceType")
                path = fhirpath(rtype if isinstance(rtype, str) else "Resource", tuple(reversed(exc.path)))
                fields = cls._validated_fields(common)
                warnings.warn(ModelFallbackWarning(path, exc.message), stacklevel=2)
        instance = cls.model_construct(**fields)
        instance._raw = dict(data)
        return instance

    @classmethod
    def _validated_fields(cls, common: dict[str, Any]) -> dict[str, Any]:
        """The common elements through pydantic validation (a Mismatch naming the first problem)."""
        from ._trusted import Mismatch

        try:
            return dict(cls.model_validate(common).__dict__)
        except ValueError as err:  # pydantic's ValidationError: its text holds the input
            errors = err.errors(include_input=False) if isinstance(err, ValidationError) else []
            mismatch = Mismatch(errors[0]["msg"] if errors else "not valid")
            if errors:
                mismatch.path.extend(reversed(errors[0]["loc"]))
            raise mismatch from None

    @property
    def resource_type(self) -> str:
        """The resource's own ``resourceType`` (e.g. ``"SubstanceProtein"``)."""
        return str(self._raw.get("resourceType", "Resource"))

    @property
    def raw(self) -> dict[str, Any]:
        """The resource as JSON, with any change to ``id``/``meta`` applied (numbers may be ``Decimal``)."""
        from ._trusted import to_json

        data = dict(self._raw)
        common = to_json(Resource.model_construct(**{k: getattr(self, k) for k in Resource.model_fields}))
        for key in _COMMON:
            if key in common:
                data[key] = common[key]
            else:
                data.pop(key, None)
        return data
