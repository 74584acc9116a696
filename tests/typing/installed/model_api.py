"""Checked against the installed wheel by test_installed_wheel.py (never executed): the model API that
fhir.resources and pydantic give every model is typed on the classes of ``clinikfhir.models``, in mypy
and pyright alike. These classes are the fhir.resources R4B classes at run time; for type checkers
they are typed stubs that do not descend from ``pydantic.BaseModel`` (which keeps editor completion
fast; ``isinstance(model, BaseModel)`` is true at run time, but mypy then treats the branch as
unreachable). The two deliberate limits are marked ``# expect-type-error``: a model passed where a
``BaseModel`` is declared (``clinikfhir.models.FHIRModel`` is the annotation for any model), and a
class imported from ``fhir.resources.R4B`` given to the client."""

from __future__ import annotations

from typing import Any, reveal_type

from fhir.resources.R4B.patient import Patient as R4BPatient
from pydantic import BaseModel

from clinikfhir import Clinik
from clinikfhir.models import Bundle, DomainResource, FHIRModel, HumanName, Observation, Patient, Resource


def model_api(p: Patient) -> None:
    reveal_type(p.model_dump())  # reveal: dict[str, Any]
    reveal_type(p.model_dump_json(indent=2))  # reveal: str
    reveal_type(p.model_copy(update={"gender": "male"}))  # reveal: Patient
    reveal_type(Patient.model_validate({"resourceType": "Patient"}))  # reveal: Patient
    reveal_type(Patient.model_validate_json("{}"))  # reveal: Patient
    reveal_type(Patient.model_construct(gender="male"))  # reveal: Patient
    reveal_type(Patient.get_resource_type())  # reveal: str
    reveal_type(p.relative_path())  # reveal: str
    reveal_type(p.model_fields_set)  # reveal: set[str]
    reveal_type(Patient.elements_sequence())  # reveal: list[str]
    p.model_dump(by_alias=True, exclude_none=True, mode="json")
    p.model_dumps()  # expect-type-error
    Patient.parse_obj({})  # expect-type-error


def hierarchy(p: Patient, obs: Observation, bundle: Bundle) -> None:
    r: Resource = p
    d: DomainResource = obs
    resources: list[Resource] = [p, obs, bundle]
    Patient(contained=[obs], name=[HumanName(family="Chalmers")])
    not_a_domain_resource: DomainResource = bundle  # expect-type-error
    print(r, d, resources, not_a_domain_resource)


def limits(clinik: Clinik, p: Patient) -> None:
    def save(model: BaseModel) -> Any:
        return model

    save(p)  # expect-type-error

    def save_any(model: FHIRModel) -> str:  # what to annotate with instead: any model
        return model.model_dump_json()

    save_any(p)
    save_any(HumanName(family="Chalmers"))
    clinik.read(R4BPatient, "1")  # expect-type-error
    reveal_type(clinik.read(Patient, "1"))  # reveal: Patient
