"""Completion as Jupyter/IPython users get it (jedi): right after the entry point and at every step
of a search chain, the completions are those of the right class, and ``Patient(`` offers the model's
fields as keywords. jedi reads the source tree through ``jedi.Project(ROOT)``; the last test
completes on a live client, as IPython does."""

from __future__ import annotations

from pathlib import Path

import jedi
import pytest

from clinikfhir import Clinik
from clinikfhir.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent.parent
PRELUDE = (
    "from clinikfhir import AsyncClinik, Clinik\n"
    "from clinikfhir.models import Observation, Patient\n"
    "clinik = Clinik()\n"
)


@pytest.fixture(scope="module")
def project() -> jedi.Project:
    return jedi.Project(ROOT)


def complete(project: jedi.Project, tail: str) -> list[str]:
    source = PRELUDE + tail
    lines = source.splitlines()
    script = jedi.Script(source, path=ROOT / "completion_case.py", project=project)
    return [c.name for c in script.complete(len(lines), len(lines[-1]))]


def test_the_entry_point_completes_every_resource_type(project: jedi.Project) -> None:
    names = complete(project, "clinik.search.")
    assert {"Observation", "Patient", "Encounter", "MedicinalProduct"} <= set(names)
    assert complete(project, "clinik.search.Obs") == ["Observation", "ObservationDefinition"]


def test_after_the_entry_point_the_observation_parameters(project: jedi.Project) -> None:
    names = set(complete(project, "clinik.search.Observation."))
    assert {"code", "date", "subject", "value_quantity", "sort", "get", "iter", "first"} <= names
    assert "owner" not in names  # an Account parameter: the first of the old overloads


def test_a_date_parameter_offers_its_prefixes(project: jedi.Project) -> None:
    names = set(complete(project, "clinik.search.Observation.date."))
    assert {"eq", "ge", "gt", "le", "lt", "ne", "sa", "eb", "ap", "missing"} <= names
    assert "contains" not in names


def test_a_reference_parameter_offers_its_targets_and_chains(project: jedi.Project) -> None:
    names = set(complete(project, "clinik.search.Observation.subject."))
    assert {"Patient", "Group", "Device", "Location", "typed", "identifier", "missing"} <= names
    assert "Practitioner" not in names
    chained = set(complete(project, "clinik.search.Observation.subject.Patient."))
    assert {"name", "birthdate", "family", "identifier"} <= chained


def test_after_a_call_the_query_completes_again(project: jedi.Project) -> None:
    names = set(complete(project, 'clinik.search.Observation.date.ge("2024").'))
    assert {"code", "sort", "get"} <= names
    assert {"ge", "le"} <= set(complete(project, 'clinik.search.Observation.code("x").date.'))
    assert {"name", "birthdate"} <= set(complete(project, "AsyncClinik().search.Patient."))


def test_a_model_constructor_offers_its_fields(project: jedi.Project) -> None:
    names = set(complete(project, "Patient("))
    assert {"gender=", "birthDate=", "name=", "identifier="} <= names


def test_model_classes_complete_on_import(project: jedi.Project) -> None:
    names = complete(project, "from clinikfhir.models import Pat")
    assert {"Patient", "PatientContact"} <= set(names)


def test_ipython_completes_on_a_live_client() -> None:
    """IPython and Jupyter call ``jedi.Interpreter`` with the live namespace: at run time each
    ``clinik.search.<Type>`` is a property, for jedi an annotated attribute; both give the right class."""
    sandbox = Sandbox()
    try:
        with Clinik(
            sandbox.create_key("org_completion"), base_url=sandbox.base_url, transport=sandbox.transport()
        ) as c:
            namespace = {"clinik": c}

            def live(code: str) -> set[str]:
                return {completion.name for completion in jedi.Interpreter(code, [namespace]).complete()}

            assert live("clinik.search.Obs") == {"Observation", "ObservationDefinition"}
            assert {"code", "date", "subject", "sort", "get"} <= live("clinik.search.Observation.")
            assert {"ge", "le", "missing"} <= live("clinik.search.Observation.date.")
            assert {"Patient", "Group", "typed"} <= live("clinik.search.Observation.subject.")
            assert "Practitioner" not in live("clinik.search.Observation.subject.")
    finally:
        sandbox.close()
