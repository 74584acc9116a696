"""The typed model stubs (``clinikfhir/_generated/model_types/*.pyi``) cannot drift from the run-time
models. Every R4B model class has a stub. For every stub class (resources, datatypes and backbone
elements alike): its base is the stub of its run-time class's base, so the stub chain mirrors R4B's
(``Patient`` -> ``DomainResource`` -> ``Resource`` -> ``FHIRResourceModel``) up to the stub root
``FHIRModel``, a plain class (no pydantic class in the type checker's view: that keeps editor
completion fast) that declares what fhir_core's ``FHIRAbstractModel`` offers, name by name and
parameter by parameter; it declares exactly the run-time fields, under their
attribute names, required exactly when the run-time field is; a field whose JSON alias differs says
so; every member's type has the run-time field's shape (lists, optionality, the same model classes,
named by their stubs wherever there is one, the same primitives), narrowed only where R4 says more: a
``Literal`` lists exactly the codes the local validator accepts for that element, and a date-like
member also accepts ``str``. Every member has the R4 short definition as its docstring."""

from __future__ import annotations

import ast
import datetime
import decimal
import importlib
import typing
import uuid
from pathlib import Path
from typing import Any

import pytest

import clinikfhir.models
from clinikfhir import validate
from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._structure._schema import node, value_set_codes

STUBS = Path(clinikfhir.models.__file__).resolve().parent.parent / "_generated" / "model_types"
FILES = sorted(STUBS.glob("*.pyi"))
ROOT = "FHIRModel"
# pydantic.BaseModel's deprecated v1 API: left off the stub root on purpose (a type error points to
# the v2 name; at run time they still work, with pydantic's deprecation warning).
DEPRECATED = {
    "construct",
    "copy",
    "from_orm",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "update_forward_refs",
    "validate",
}
PRIMITIVE_NAMES = {
    str: "str",
    int: "int",
    bool: "bool",
    float: "float",
    bytes: "bytes",
    decimal.Decimal: "_decimal.Decimal",
    datetime.date: "_dt.date",
    datetime.datetime: "_dt.datetime",
    datetime.time: "_dt.time",
    uuid.UUID: "_uuid.UUID",
}
DATES = {"_dt.date", "_dt.datetime", "_dt.time"}


def _classes() -> dict[str, tuple[Path, ast.ClassDef]]:
    out: dict[str, tuple[Path, ast.ClassDef]] = {}
    for f in FILES:
        for n in ast.parse(f.read_text()).body:
            if isinstance(n, ast.ClassDef):
                out[n.name] = (f, n)
    return out


CLASSES = _classes()
ROOT_NODE = CLASSES.pop(ROOT)[1]


def _members(cls_node: ast.ClassDef) -> dict[str, tuple[ast.AnnAssign, str]]:
    """attribute -> (declaration, docstring) of a stub class body."""
    out: dict[str, tuple[ast.AnnAssign, str]] = {}
    body = cls_node.body
    for i, item in enumerate(body):
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            doc = body[i + 1] if i + 1 < len(body) else None
            text = doc.value.value if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) else ""
            out[item.target.id] = (item, str(text))
    return out


def _r4_path(cls_node: ast.ClassDef) -> str | None:
    """The R4 element path the class docstring names: "(R4 ``Patient.contact``; ...)"; None for a
    class R4 lacks ("(Not an R4 type: ...")."""
    doc = ast.get_docstring(cls_node) or ""
    if "(R4 ``" not in doc:
        assert "(Not an R4 type" in doc or "primitive value" in doc, doc
        return None
    return doc.split("(R4 ``", 1)[1].split("``", 1)[0]


def _runtime_model(annotation: Any) -> str | None:
    name = getattr(annotation, "__name__", "")
    if isinstance(annotation, type):
        if name.endswith("Type") and name[:-4] in MODEL_MODULES:
            return name[:-4]
        if name in MODEL_MODULES and annotation.__module__.startswith("fhir.resources."):
            return name
    return None


def _shape_runtime(annotation: Any) -> Any:
    """A comparable shape: ("list", inner) / frozenset of leaves for a union / a leaf name."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _shape_runtime(typing.get_args(annotation)[0])
    if origin in (typing.Union, typing.types.UnionType):  # type: ignore[attr-defined]
        return _union([_shape_runtime(a) for a in typing.get_args(annotation)])
    if origin in (list, typing.List):  # noqa: UP006
        return ("list", _shape_runtime(typing.get_args(annotation)[0]))
    if annotation is type(None):
        return "None"
    model = _runtime_model(annotation)
    if model is not None:
        return f"model:{model}"
    if annotation in PRIMITIVE_NAMES:
        return PRIMITIVE_NAMES[annotation]
    return f"other:{getattr(annotation, '__name__', annotation)}"


def _union(parts: list[Any]) -> Any:
    flat: set[Any] = set()
    for p in parts:
        flat |= p if isinstance(p, frozenset) else {p}
    return next(iter(flat)) if len(flat) == 1 else frozenset(flat)


def _shape_stub(expr: ast.expr, stubbed: set[str], where: str) -> Any:
    """The same shape for a stub annotation; ``Literal[...]`` reads as ``str``; a model class must be
    named by its stub when it has one (so nested elements are typed by the stubs)."""
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return _union([_shape_stub(expr.left, stubbed, where), _shape_stub(expr.right, stubbed, where)])
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
        if expr.value.id == "list":
            return ("list", _shape_stub(expr.slice, stubbed, where))
        if expr.value.id == "Literal":
            return "str"
    if isinstance(expr, ast.Constant) and expr.value is None:
        return "None"
    text = ast.unparse(expr)
    if text in PRIMITIVE_NAMES.values():
        return text
    if text == "_AnyUrl":
        return "other:AnyUrl"
    if isinstance(expr, ast.Name) and expr.id in MODEL_MODULES:
        assert expr.id in stubbed, f"{where}: {expr.id} named without a stub"
        return f"model:{expr.id}"
    return f"other:{text}"


def _narrowed(stub: Any, runtime: Any) -> bool:
    """``stub`` is ``runtime``, or it with date-like leaves that also take ``str`` (R4 dates)."""
    if stub == runtime:
        return True
    s = stub if isinstance(stub, frozenset) else frozenset({stub})
    r = runtime if isinstance(runtime, frozenset) else frozenset({runtime})
    s_lists = [x for x in s if isinstance(x, tuple)]
    r_lists = [x for x in r if isinstance(x, tuple)]
    if len(s_lists) != len(r_lists) or len(s_lists) > 1:
        return False
    if s_lists and not _narrowed(s_lists[0][1], r_lists[0][1]):
        return False
    s, r = s - set(s_lists), r - set(r_lists)
    return s == r or (bool(r & DATES) and r <= s and s - r <= {"str", "_dt.date"})


def test_every_r4b_model_class_has_a_stub() -> None:
    assert len(FILES) > 140
    assert set(CLASSES) == set(MODEL_MODULES)
    assert node("Patient") is not None  # R4 types and R4B's own alike
    assert node("Citation") is None


def _stub_chain(name: str) -> list[str]:
    chain = [name]
    while chain[-1] != ROOT:
        bases = [ast.unparse(b) for b in CLASSES[chain[-1]][1].bases]
        assert len(bases) == 1, f"{chain[-1]}: stub bases {bases}"
        chain.append(ROOT if bases[0] == "_FHIRModel" else bases[0])
    return chain


@pytest.mark.parametrize("name", ["Patient", "PatientContact", "Age", "Bundle", "FHIRPrimitiveExtension", "Citation"])
def test_the_stub_chain_mirrors_the_run_time_mro(name: str) -> None:
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    runtime = getattr(importlib.import_module(MODEL_MODULES[name]), name)
    mro = [c.__name__ for c in runtime.__mro__[: runtime.__mro__.index(FHIRAbstractModel)]]
    assert _stub_chain(name) == [*mro, ROOT]


def test_the_stub_root_is_a_plain_dataclass_transform_class() -> None:
    """No base and no metaclass: a checker that evaluates a stub never reaches pydantic's
    ``ModelMetaclass`` (an ``ABCMeta``) nor any R4B class; ``dataclass_transform`` gives each stub its
    keyword-only constructor from the declared fields."""
    assert ROOT_NODE.bases == []
    assert ROOT_NODE.keywords == []
    assert [ast.unparse(d) for d in ROOT_NODE.decorator_list] == ["dataclass_transform(kw_only_default=True)"]


def _root_members() -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for item in ROOT_NODE.body:
        if isinstance(item, ast.FunctionDef):
            out[item.name] = item
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            out[item.target.id] = item
    return out


def _parameters(fn: ast.FunctionDef) -> list[tuple[str, str]]:
    """(name, kind) of each parameter, ``self``/``cls`` left out (inspect leaves them out too)."""
    a = fn.args
    out = [(p.arg, "POSITIONAL_ONLY") for p in a.posonlyargs]
    out += [(p.arg, "POSITIONAL_OR_KEYWORD") for p in a.args]
    out += [(a.vararg.arg, "VAR_POSITIONAL")] if a.vararg else []
    out += [(p.arg, "KEYWORD_ONLY") for p in a.kwonlyargs]
    out += [(a.kwarg.arg, "VAR_KEYWORD")] if a.kwarg else []
    return [p for p in out if p[0] not in ("self", "cls")]


def test_the_stub_root_declares_what_every_run_time_model_offers() -> None:
    """Every public name of fhir_core's ``FHIRAbstractModel`` (and so of ``pydantic.BaseModel``) but
    the deprecated ones is on the stub root: methods with the run-time parameters (names and kinds)
    and the same classmethod-ness, properties as properties, the class attributes as ``ClassVar``."""
    import inspect

    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    members = _root_members()
    public = {n for n in dir(FHIRAbstractModel) if not n.startswith("_")} | {"__iter__", "__copy__", "__deepcopy__"}
    assert set(members) == public - DEPRECATED
    for name, decl in members.items():
        owner = next(c for c in FHIRAbstractModel.__mro__ if name in c.__dict__)
        raw = owner.__dict__[name]
        if isinstance(decl, ast.AnnAssign):
            assert ast.unparse(decl.annotation).startswith("ClassVar["), name
            continue
        assert isinstance(decl, ast.FunctionDef)
        decorators = [ast.unparse(d) for d in decl.decorator_list]
        if isinstance(raw, property):
            assert decorators == ["property"], name
            continue
        assert (decorators == ["classmethod"]) == isinstance(raw, classmethod), name
        signature = inspect.signature(getattr(FHIRAbstractModel, name))
        runtime = [(p.name, p.kind.name) for p in signature.parameters.values() if p.name not in ("self", "cls")]
        assert _parameters(decl) == runtime, name


def test_r4b_methods_beyond_the_root_are_declared() -> None:
    """A public callable an R4B class adds (``relative_path``...) is declared on its stub."""
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    base = set(dir(FHIRAbstractModel))
    for name, module in MODEL_MODULES.items():
        runtime = getattr(importlib.import_module(module), name)
        own = {
            a
            for a in vars(runtime)
            if not a.startswith("_")
            and a not in base
            and a not in runtime.model_fields
            and callable(getattr(runtime, a))
        }
        declared = {f.name for f in CLASSES[name][1].body if isinstance(f, ast.FunctionDef)}
        inherited = {
            f.name for c in _stub_chain(name)[1:-1] for f in CLASSES[c][1].body if isinstance(f, ast.FunctionDef)
        }
        assert own <= declared | inherited, f"{name}: {own - declared - inherited} not declared"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_stub_class_matches_its_run_time_class(name: str) -> None:
    stub, cls_node = CLASSES[name]
    module = MODEL_MODULES[name]
    assert module.rsplit(".", 1)[1] == stub.stem
    runtime = getattr(importlib.import_module(module), name)
    bases = [ast.unparse(b) for b in cls_node.bases]
    (parent,) = runtime.__bases__
    assert bases == ([parent.__name__] if parent.__name__ in CLASSES else ["_FHIRModel"]), f"{name}: bases {bases}"
    assert ast.get_docstring(cls_node)
    members = _members(cls_node)
    assert set(members) == set(runtime.model_fields), f"{name}: stub members differ from the run-time fields"
    path = _r4_path(cls_node)
    r4 = node(path) if path is not None else None
    for attr, (decl, doc) in members.items():
        field = runtime.model_fields[attr]
        where = f"{name}.{attr}"
        assert doc, f"{where} has no docstring"
        if field.alias and field.alias != attr:
            assert f"JSON name ``{field.alias}``" in doc, f"{where}: alias {field.alias} undocumented"
        assert (decl.value is None) == field.is_required(), f"{where}: required differs from run time"
        stub_shape = _shape_stub(decl.annotation, set(CLASSES), where)
        runtime_shape = _shape_runtime(field.annotation)
        assert _narrowed(stub_shape, runtime_shape), f"{where}: {ast.unparse(decl.annotation)} vs {field.annotation}"
        literal = _literal_values(decl.annotation)
        r4_field = r4.fields.get(field.alias or attr) if r4 is not None else None
        if literal is not None:
            assert r4_field is not None, f"{where}: a Literal on no R4 element"
            assert r4_field.type == "code", f"{where}: a Literal on a non-code element"
            codes = value_set_codes(r4_field.element.value_set)
            assert codes is not None, f"{where}: the validator has no codes for this Literal"
            assert set(literal) == set(codes[1]), f"{where}: Literal differs from the validator"
        elif r4_field is not None and r4_field.type == "code" and r4_field.element.value_set:
            codes = value_set_codes(r4_field.element.value_set)
            # a required binding the stub leaves as str: only when it has no enumerable codes or too many
            assert codes is None or len(codes[1]) > 250 or "str" not in str(runtime_shape), f"{where}: no Literal"
        if stub_shape != runtime_shape:  # the date narrowing: only on R4 date-like elements
            assert r4_field is not None, where
            assert r4_field.type in ("date", "dateTime", "instant", "time"), where


def _literal_values(annotation: ast.expr) -> list[str] | None:
    for item in ast.walk(annotation):
        if isinstance(item, ast.Subscript) and isinstance(item.value, ast.Name) and item.value.id == "Literal":
            elts = item.slice.elts if isinstance(item.slice, ast.Tuple) else [item.slice]
            return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return None


def test_nested_elements_and_datatypes_are_typed_by_their_stubs() -> None:
    members = _members(CLASSES["Patient"][1])
    assert ast.unparse(members["contact"][0].annotation) == "list[PatientContact] | None"
    assert ast.unparse(members["name"][0].annotation) == "list[HumanName] | None"
    contact = _members(CLASSES["PatientContact"][1])
    assert _literal_values(contact["gender"][0].annotation) == ["female", "male", "other", "unknown"]
    quantity = _members(CLASSES["Quantity"][1])
    assert _literal_values(quantity["comparator"][0].annotation) == ["<", "<=", ">", ">="]
    component = _members(CLASSES["ObservationComponent"][1])
    assert ast.unparse(component["valueQuantity"][0].annotation) == "Quantity | None"
    contained = _members(CLASSES["Observation"][1])["contained"][0]
    assert ast.unparse(contained.annotation) == "list[Resource] | None"  # the stub Resource, base of all
    # a constrained Quantity is a Quantity to the checker as it is at run time
    assert [ast.unparse(b) for b in CLASSES["Age"][1].bases] == ["Quantity"]


def test_hover_text_is_the_r4_short_definition() -> None:
    members = _members(CLASSES["Patient"][1])
    assert members["birthDate"][1].startswith("The date of birth for the individual.")
    assert members["contact"][1] == "A contact party (e.g. guardian, partner, friend) for the patient."
    assert members["id"][1] == "Logical id of this artifact."  # inherited from Resource.id
    assert _members(CLASSES["PatientContact"][1])["id"][1] == "Unique id for inter-element referencing."
    # R4's short where R4B's title differs: R4B says "The value of the resource's status"-style titles
    assert _members(CLASSES["Observation"][1])["status"][1].startswith("registered | preliminary | final | amended +.")
    assert ast.get_docstring(CLASSES["Patient"][1]).startswith(  # type: ignore[union-attr]
        "Information about an individual or animal receiving health care services."
    )


def test_literal_codes_are_exactly_what_validation_accepts() -> None:
    """A code outside the Literal is refused by the local validator, every code inside is accepted,
    at the top level and nested (``Patient.contact.gender``)."""
    from clinikfhir.models import Patient, PatientContact

    codes = _literal_values(_members(CLASSES["Patient"][1])["gender"][0].annotation)
    assert codes == ["female", "male", "other", "unknown"]
    for code in codes:
        assert [i for i in validate(Patient(gender=code)) if i.severity == "error"] == []
        nested = Patient(contact=[PatientContact(gender=code, name={"family": "F"})])
        assert [i for i in validate(nested) if i.severity == "error"] == []
    wrong = validate(Patient.model_construct(gender="x"))
    assert [i.path for i in wrong if i.severity == "error"] == ["Patient.gender"]
    nested_wrong = validate(Patient.model_construct(contact=[PatientContact.model_construct(gender="x")]))
    assert [i.path for i in nested_wrong if i.severity == "error" and "gender" in i.path] == [
        "Patient.contact[0].gender"
    ]


def test_the_stubs_are_what_type_checkers_import() -> None:
    from clinikfhir._generated import model_imports

    text = Path(model_imports.__file__).read_text()
    for name in ("Patient", "PatientContact", "HumanName", "Quantity", "ObservationComponent"):
        module = MODEL_MODULES[name].rsplit(".", 1)[1]
        assert f"from clinikfhir._generated.model_types.{module} import {name} as {name}" in text


def test_the_stub_root_is_clinikfhir_models_fhir_model_at_run_time() -> None:
    """``clinikfhir.models.FHIRModel``: for checkers the stub root, at run time fhir_core's base of
    every model, so an annotation with it and ``isinstance`` agree."""
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    from clinikfhir.models import FHIRModel, HumanName, Patient

    assert FHIRModel is FHIRAbstractModel
    assert isinstance(Patient(), FHIRModel)
    assert isinstance(HumanName(family="Chalmers"), FHIRModel)
