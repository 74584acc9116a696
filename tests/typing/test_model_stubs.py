"""The typed model stubs (``clinikfhir/_generated/model_types/*.pyi``) cannot drift from the run-time
models: every stub class subclasses the fhir.resources R4B class of the same name, every member it
declares is a field of that class under the same attribute name, a field whose JSON alias differs says
so, a ``Literal`` lists exactly the codes the run-time validator accepts, and date-like members are
date-like at run time."""

from __future__ import annotations

import ast
import datetime
import importlib
import typing
from pathlib import Path
from typing import Any

import pytest

import clinikfhir.models
from clinikfhir import validate
from clinikfhir._generated.model_index import MODEL_MODULES

STUBS = Path(clinikfhir.models.__file__).resolve().parent.parent / "_generated" / "model_types"
FILES = sorted(STUBS.glob("*.pyi"))


def _members(cls_node: ast.ClassDef) -> dict[str, tuple[ast.expr, str]]:
    """attribute -> (annotation, docstring) of a stub class body."""
    out: dict[str, tuple[ast.expr, str]] = {}
    body = cls_node.body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = body[i + 1] if i + 1 < len(body) else None
            text = doc.value.value if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) else ""
            out[node.target.id] = (node.annotation, str(text))
    return out


def _literal_values(annotation: ast.expr) -> list[str] | None:
    for node in ast.walk(annotation):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return None


def _base_type(annotation: Any) -> Any:
    while typing.get_origin(annotation) in (typing.Union, typing.Annotated, list, typing.List):  # noqa: UP006
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0]
    return annotation


def test_there_are_stubs_for_the_common_resources() -> None:
    names = {node.name for f in FILES for node in ast.parse(f.read_text()).body if isinstance(node, ast.ClassDef)}
    assert len(FILES) > 100
    assert {"Patient", "Observation", "Encounter", "HumanName", "PatientContact", "Bundle"} <= names


@pytest.mark.parametrize("stub", FILES, ids=[f.stem for f in FILES])
def test_every_stub_member_is_a_run_time_field(stub: Path) -> None:
    tree = ast.parse(stub.read_text())
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert classes
    for node in classes:
        module = MODEL_MODULES[node.name]
        assert module.rsplit(".", 1)[1] == stub.stem
        runtime = getattr(importlib.import_module(module), node.name)
        (base,) = node.bases
        assert ast.unparse(base) == f"_{stub.stem}.{node.name}"
        members = _members(node)
        assert members, f"{node.name}: a stub class declares at least one member"
        for attr, (annotation, doc) in members.items():
            field = runtime.model_fields.get(attr)
            assert field is not None, f"{node.name}.{attr} is not a field of the run-time model"
            assert doc, f"{node.name}.{attr} has no docstring"
            if field.alias and field.alias != attr:
                assert f"JSON name ``{field.alias}``" in doc, f"{node.name}.{attr}: alias {field.alias} undocumented"
            text = ast.unparse(annotation)
            optional = text.endswith("| None")
            assert optional == (not field.is_required()), f"{node.name}.{attr}: required differs from run time"
            if "_dt." in text:
                assert "str" in text
                assert _base_type(field.annotation) in (datetime.date, datetime.datetime, datetime.time)


def test_literal_codes_are_exactly_what_validation_accepts() -> None:
    """A code outside the Literal is refused by the local validator, every code inside is accepted."""
    from clinikfhir.models import Patient

    tree = ast.parse((STUBS / "patient.pyi").read_text())
    patient = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Patient")
    codes = _literal_values(_members(patient)["gender"][0])
    assert codes == ["female", "male", "other", "unknown"]
    for code in codes:
        assert [i for i in validate(Patient(gender=code)) if i.severity == "error"] == []
    wrong = validate(Patient.model_construct(gender="x"))
    assert [i.path for i in wrong if i.severity == "error"] == ["Patient.gender"]


def test_the_stubs_are_what_type_checkers_import() -> None:
    from clinikfhir._generated import model_imports

    text = Path(model_imports.__file__).read_text()
    assert "from clinikfhir._generated.model_types.patient import Patient as Patient" in text
    assert "from clinikfhir._generated.model_types.encounter import Encounter as Encounter" in text
