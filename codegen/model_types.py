"""Emit typed model stubs: ``clinikfhir/_generated/model_types/<module>.pyi``, for type checkers and
editors only (the run-time classes stay fhir.resources R4B classes; ``model_imports`` re-exports
these stubs under ``TYPE_CHECKING``).

Every R4B model class gets a stub class that declares **every** run-time field, typed from the R4
StructureDefinition (R4B's own types, which R4 lacks, from their run-time annotations), each with the
element's R4 short definition as its docstring (what an editor shows on hover).

The stubs form their own chain, mirroring R4B's: the stub ``Patient`` subclasses the stub
``DomainResource``, then ``Resource``, ``FHIRResourceModel``; a backbone element ``BackboneElement``
then ``Element``; ``Age`` is a ``Quantity``. At the top is ``FHIRModel`` (``_base.pyi``), a plain
class marked ``dataclass_transform`` (so each stub has its keyword-only constructor) that declares
what fhir_core's ``FHIRAbstractModel`` and ``pydantic.BaseModel`` give every model (``model_dump``,
``model_validate``, ``get_resource_type``...). No stub has a pydantic or R4B class among its bases:
when a checker evaluates a class whose bases reach ``pydantic.BaseModel``, pyright synthesizes the
dataclass fields of every class in the MRO (each R4B ``Field(...)`` an overload evaluation), evaluates
``ModelMetaclass``' ``dataclass_transform`` and, since it derives from ``ABCMeta``, checks every
symbol of the MRO for abstract methods, on every keystroke (pyright drops its type cache on each edit).
That made ``Patient(`` cost 0.6-0.8 s in an editor; with this chain it costs about what ``os.`` does.
The price: for a checker a model is not a ``BaseModel`` (passing one where ``BaseModel`` is declared
is a type error; at run time it is one), and a class imported from ``fhir.resources.R4B`` is not one
of these (``clinikfhir.models`` is the typed import). pydantic's deprecated v1 methods are left off.

What the fields are typed as:

- a nested element or datatype is typed by its stub class (``Patient.contact`` is
  ``list[PatientContact]``, ``Observation.valueQuantity`` a stub ``Quantity``), so what follows holds
  at every depth (``p.contact[0].gender``, ``obs.component[0].valueQuantity.comparator``);
- a ``code`` element with a **required** binding: ``Literal[...]`` of the value set's codes (from
  ``required-value-sets.json``), so ``Patient(gender="x")`` and ``obs.status = "done"`` are type
  errors; extensible and preferred bindings stay ``str``;
- a ``date``, ``dateTime``, ``instant`` or ``time`` element: the Python type ``| str``, since R4
  accepts the string form and a partial date (``"1990"``) reads back as a string;
- anything else has the type of the run-time field (lists as ``list[...]``, ``Resource`` elements as
  the stub ``Resource``, the base of every stub resource).

Names are the run-time field names, which is also what the constructor takes: a choice element
``value[x]`` is one field per type (``valueQuantity``, ``valueString``, ...); a JSON name that is a
Python keyword takes ``_fhir`` (``class`` -> ``class_fhir``, ``import`` -> ``import_fhir``); the
primitive extension ``_name`` is ``name__ext``. Each docstring names the JSON name when it differs.
The library's own annotations (the clients' model type variables, ``Reference`` parameters,
``Bundle``/``OperationOutcome``/``CapabilityStatement`` results) name these stubs, imported from
``clinikfhir.models`` (the same classes at run time).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import importlib
import inspect
import keyword
import types
import typing
import uuid
from typing import Any

from ._common import GENERATED, header, load
from .model_index import model_classes
from .vendor import inherited_short

PKG = f"{GENERATED}/model_types"
HEAD = header("codegen/model_types.py", "structure-definitions.json", "required-value-sets.json", "element-shorts.json")
DATE_TYPES = {
    "date": "_dt.date | str",
    "dateTime": "_dt.datetime | _dt.date | str",
    "instant": "_dt.datetime | str",
    "time": "_dt.time | str",
}
PRIMITIVES = {
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
MAX_CODES = 250  # a Literal longer than this helps nobody in a hover
# Not an R4 type, but the type of every ``name__ext`` field: stubbed so its ``extension`` is typed too.
EXTRA = {"FHIRPrimitiveExtension": ("Element", "")}
# Methods that R4B classes add to what the stub root declares (every other public name of every
# run-time class is a field or a root member; tests/typing/test_model_stubs.py checks that).
METHODS = {
    "FHIRResourceModel": [
        "    def relative_base(self) -> str:",
        '        """The type part of the relative URL of the resource (``Patient``)."""',
        "    def relative_path(self) -> str:",
        '        """The relative URL of the resource (``Patient/123``; the type alone without an id)."""',
    ],
    "FHIRPrimitiveExtension": [
        "    @classmethod",
        "    def validate_extension_or_fhir_comment_required(cls, values: dict[str, Any]) -> dict[str, Any]:",
        '        """The check of fhir.resources that the element has an id, extensions or comments (pydantic hook)."""',
    ],
}
# The root of every stub chain, for type checkers; see the module docstring.
ROOT_MODULE = "_base"


@functools.cache
def _runtime(name: str) -> Any:
    return getattr(importlib.import_module(model_classes()[name]), name)


@functools.cache
def _definitions() -> tuple[dict[str, str], dict[str, dict[str, dict[str, Any]]]]:
    """(type -> kind, full element path -> {child name: element}) for every R4 resource and datatype."""
    kinds: dict[str, str] = {}
    children: dict[str, dict[str, dict[str, Any]]] = {}
    for sd in load("structure-definitions.json")["structureDefinitions"]:
        if sd.get("derivation") == "constraint" or sd.get("kind") not in ("resource", "complex-type"):
            continue
        kinds[sd["type"]] = sd["kind"]
        for e in sd["elements"]:
            if "." in e["path"]:
                parent, name = e["path"].rsplit(".", 1)
                children.setdefault(parent, {})[name] = e
    return kinds, children


def _model_leaf(annotation: Any) -> str | None:
    """The model class name a run-time annotation leaf stands for (``CodingType`` -> ``Coding``)."""
    name = getattr(annotation, "__name__", "")
    if isinstance(annotation, type):
        if name.endswith("Type") and name[:-4] in model_classes():
            return name[:-4]
        if annotation.__module__.startswith("fhir.resources.R4B.") and name in model_classes():
            return name
    return None


def _leaves(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin is not None:
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def _element(children: dict[str, dict[str, Any]], json_name: str) -> tuple[str, dict[str, Any], str | None] | None:
    """(R4 element name, element, type code) of a run-time field's JSON name; None when R4 lacks it."""
    if json_name in children:
        codes = [t["code"] for t in children[json_name].get("type", [])]
        return json_name, children[json_name], codes[0] if len(codes) == 1 else None
    for name, element in children.items():
        if name.endswith("[x]") and json_name.startswith(name[:-3]):
            for t in element.get("type", []):
                if name[:-3] + t["code"][:1].upper() + t["code"][1:] == json_name:
                    return name, element, t["code"]
    return None


@functools.cache
def class_paths() -> dict[str, tuple[str, str]]:
    """Model class -> (R4 type, element path below it; "" for the type itself), from the run-time
    annotations: a backbone element's class is the one its R4B field really holds."""
    kinds, children = _definitions()
    classes = model_classes()
    out: dict[str, tuple[str, str]] = {}
    queue = [(t, t, "") for t in sorted(kinds) if t in classes]
    while queue:
        name, type_name, rel = queue.pop(0)
        if name in out:
            continue
        out[name] = (type_name, rel)
        own = children.get(f"{type_name}.{rel}".rstrip("."), {})
        for attr, field in _runtime(name).model_fields.items():
            found = _element(own, field.alias or attr)
            if found is None:
                continue
            child, element, _code = found
            codes = {t["code"] for t in element.get("type", [])}
            if not (codes & {"BackboneElement", "Element"} or "contentReference" in element):
                continue
            targets = [m for m in map(_model_leaf, _leaves(field.annotation)) if m]
            if len(targets) != 1:
                continue
            ref = element.get("contentReference")
            target = ref.split(".", 1)[1] if ref else (f"{rel}.{child}" if rel else child)
            queue.append((targets[0], type_name, target))
    return out


@functools.cache
def stubbed() -> dict[str, tuple[str, str]]:
    """Class -> (R4 type, element path) for every model class: all of them get a stub. A class R4
    lacks (R4B's own resources and their elements, ``FHIRResourceModel``) maps to ("", "")."""
    paths = {**class_paths(), **{n: p for n, p in EXTRA.items() if n in model_classes()}}
    return {name: paths.get(name, ("", "")) for name in model_classes()}


def _value_sets() -> dict[str, list[str]]:
    data: dict[str, Any] = load("required-value-sets.json")
    return {url: sorted({code for _system, code in entry["codes"]}) for url, entry in data.items()}


def short(type_name: str, rel: str) -> str:
    """The R4 short definition of an element (``rel`` below ``type_name``; "" for the type)."""
    shorts: dict[str, dict[str, str]] = load("element-shorts.json")
    own = shorts.get(type_name, {})
    if rel in own:
        return own[rel]
    kinds, _children = _definitions()
    return inherited_short(shorts, kinds.get(type_name, "complex-type"), rel) or ""


class _Module:
    """One stub module being written: its name and what its annotations need imported."""

    def __init__(self, short_name: str) -> None:
        self.short = short_name
        self.r4b: set[str] = set()
        self.stubs: dict[str, set[str]] = {}
        self.std: set[str] = set()
        self.root = False

    def model(self, name: str) -> str:
        module = model_classes()[name].rsplit(".", 1)[1]
        if name in stubbed():
            if module != self.short:
                self.stubs.setdefault(module, set()).add(name)
            return name
        self.r4b.add(module)
        return f"_{module}.{name}"

    def render(self, annotation: Any, scalar: str | None) -> str:
        """A stub type expression for a run-time field annotation; ``scalar`` replaces its primitive."""
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            return self.render(typing.get_args(annotation)[0], scalar)
        if origin in (typing.Union, types.UnionType):
            parts = [self.render(a, scalar) for a in typing.get_args(annotation)]
            if "None" in parts:  # None last, as people write it
                parts = [p for p in parts if p != "None"] + ["None"]
            return " | ".join(dict.fromkeys(parts))
        if origin in (list, typing.List):  # noqa: UP006
            (arg,) = typing.get_args(annotation)
            return f"list[{self.render(arg, scalar)}]"
        if annotation is type(None):
            return "None"
        model = _model_leaf(annotation)
        if model is not None:
            return self.model(model)
        if annotation in PRIMITIVES:
            if scalar is not None:
                return scalar
            text = PRIMITIVES[annotation]
            self.std.add(text.split(".")[0])
            return text
        name = getattr(annotation, "__name__", "")
        if getattr(annotation, "__module__", "").startswith("pydantic") and name == "AnyUrl":
            self.std.add("AnyUrl")
            return "_AnyUrl"
        raise SystemExit(f"codegen/model_types.py: no stub type for {annotation!r}")


def _doc(text: str) -> str:
    text = " ".join(text.split()).replace("\\", "\\\\").replace('"""', "'''")
    if text.endswith('"'):
        text += " "
    return f'    """{text}"""'


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text.endswith((".", "?", "!")) else text + "."


def _r4b_summary(cls: Any) -> str:
    """The first sentence of an R4B class's docstring, after its boilerplate disclaimer."""
    paragraphs = [p for p in inspect.cleandoc(cls.__doc__ or "").split("\n\n") if not p.startswith("Disclaimer")]
    lines: list[str] = []
    for line in (paragraphs or [cls.__name__])[0].splitlines():
        lines.append(line)
        if line.endswith("."):
            break
    return _sentence(" ".join(lines))


def _field(
    module: _Module, cls: Any, attr: str, type_name: str, rel: str, value_sets: dict[str, list[str]]
) -> list[str]:
    """The annotation line and docstring of one run-time field."""
    _kinds, children = _definitions()
    own = children.get(f"{type_name}.{rel}".rstrip("."), {})
    field = cls.model_fields[attr]
    json_name = field.alias or attr
    scalar: str | None = None
    notes: list[str] = []
    if attr == "fhir_comments":
        text = "Comments kept from the JSON (``fhir_comments``); not an R4 element."
    elif json_name.startswith("_"):
        text = f"Id and extensions of ``{json_name[1:]}``."
    else:
        found = _element(own, json_name)
        if found is None:
            text = _sentence(field.title or attr) + (" Not an R4 element (R4B adds it)." if type_name else "")
        else:
            child, element, code = found
            text = _sentence(short(type_name, f"{rel}.{child}" if rel else child))
            binding = element.get("binding") or {}
            if code in DATE_TYPES:
                scalar = DATE_TYPES[code]
                notes.append(f'R4 ``{code}``: also its string form; a partial one ("1990") reads back as ``str``.')
            elif code == "code" and binding.get("strength") == "required":
                url = binding.get("valueSet", "").split("|")[0]
                values = value_sets.get(url)
                if values and len(values) <= MAX_CODES:
                    scalar = "Literal[" + ", ".join(repr(v) for v in values) + "]"
                    notes.append(f"Required binding ({url}): {' | '.join(values)}.")
    if scalar is not None and not any(a in PRIMITIVES for a in _leaves(field.annotation)):
        scalar, notes = None, []  # R4B models it otherwise: keep the run-time type
    annotation = module.render(field.annotation, scalar)
    if json_name != attr:
        why = " (a Python keyword)" if keyword.iskeyword(json_name) else ""
        notes.append(f"JSON name ``{json_name}``{why}.")
    required = field.is_required()
    line = f"    {attr}: {annotation}" + ("" if required else " = None")
    return [line, _doc(" ".join([text, *notes]))]


def _stub_base(module: _Module, name: str) -> str:
    """The stub of the run-time class's base (the chain R4B has), or the stub root at its top."""
    (parent,) = _runtime(name).__bases__
    if parent.__name__ in stubbed():
        return module.model(parent.__name__)
    module.root = True
    return "_FHIRModel"


def emit() -> dict[str, str]:
    return dict(_emit())


@functools.cache
def _emit() -> dict[str, str]:
    classes = model_classes()
    value_sets = _value_sets()
    modules: dict[str, _Module] = {}
    bodies: dict[str, list[str]] = {}
    for name, (type_name, rel) in sorted(stubbed().items()):
        short_name = classes[name].rsplit(".", 1)[1]
        module = modules.setdefault(short_name, _Module(short_name))
        cls = _runtime(name)
        where = f"{type_name}.{rel}" if rel else type_name
        run_time = f"run-time class {classes[name]}.{name}"
        if name in EXTRA:
            doc = f"The id and extensions of a primitive value. ({run_time}.)"
        elif type_name:
            doc = f"{_sentence(short(type_name, rel))} (R4 ``{where}``; {run_time}.)"
        else:
            doc = f"{_r4b_summary(cls)} (Not an R4 type: R4B's; {run_time}.)"
        lines = ["", "", f"class {name}({_stub_base(module, name)}):", _doc(doc), ""]
        for attr in sorted(cls.model_fields, key=lambda a: (a == "fhir_comments", a.lower(), a)):
            lines += _field(module, cls, attr, type_name, rel, value_sets)
        lines += METHODS.get(name, [])
        bodies.setdefault(short_name, []).extend(lines)
    files: dict[str, str] = {
        f"{PKG}/__init__.py": HEAD
        + '"""Typed model stubs (``.pyi``), read by type checkers only; see codegen/model_types.py."""\n',
        f"{PKG}/{ROOT_MODULE}.pyi": _root(),
    }
    for short_name, body in sorted(bodies.items()):
        module = modules[short_name]
        code = "\n".join(body)
        # a required field (``Field(default=...)`` at run time) re-declared without a default reads to
        # pyright as a lost default; the stub keeps it required, as it is at run time
        general = (
            ", reportGeneralTypeIssues=false"
            if any(
                ln.startswith("    ") and ": " in ln and " = None" not in ln and '"""' not in ln and "def " not in ln
                for ln in body
            )
            else ""
        )
        typing_names = [n for n, used in (("Any", "[str, Any]"), ("Literal", "Literal[")) if used in code]
        sections = [
            [
                *(["import datetime as _dt"] if "_dt." in code else []),
                *(["import decimal as _decimal"] if "_decimal." in code else []),
                *(["import uuid as _uuid"] if "_uuid." in code else []),
                *([f"from typing import {', '.join(typing_names)}"] if typing_names else []),
            ],
            [
                *(["from pydantic import AnyUrl as _AnyUrl"] if "_AnyUrl" in code else []),
                *(f"from fhir.resources.R4B import {m} as _{m}" for m in sorted(module.r4b)),
            ],
            [
                *([f"from .{ROOT_MODULE} import FHIRModel as _FHIRModel"] if module.root else []),
                *(f"from .{m} import {', '.join(sorted(names))}" for m, names in sorted(module.stubs.items())),
            ],
        ]
        text = [
            HEAD.rstrip("\n"),
            '# mypy: disable-error-code="assignment, misc, override"',
            "# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false" + general,
            f'"""Typed stubs of ``fhir.resources.R4B.{short_name}``: every element typed from R4."""',
            *(line for section in sections if section for line in ["", *section]),
            *body,
            "",
        ]
        files[f"{PKG}/{short_name}.pyi"] = "\n".join(text)
    return files


# The stub root: what ``fhir_core.fhirabstractmodel.FHIRAbstractModel`` (and ``pydantic.BaseModel``
# through it) offer every model, declared on a plain class. tests/typing/test_model_stubs.py checks
# it against the run-time class, name by name and parameter by parameter.
ROOT_STUB = """\
from collections.abc import Callable, Generator, Iterator, Mapping
from builtins import dict as _dict
from typing import Any, ClassVar, Literal, dataclass_transform

from pydantic import ConfigDict
from pydantic.fields import ComputedFieldInfo, FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from typing_extensions import Self


@dataclass_transform(kw_only_default=True)
class FHIRModel:
    \"\"\"Any FHIR model, resource or element (``clinikfhir.models.FHIRModel``; at run time
    fhir_core.fhirabstractmodel.FHIRAbstractModel, a ``pydantic.BaseModel``), and what every model
    offers. For type checkers the model stubs descend from this plain class rather than from
    pydantic's, which keeps completion in editors fast; ``isinstance(m, BaseModel)`` holds at run
    time, but annotate with this class, not ``BaseModel``, to accept any model.\"\"\"

    model_config: ClassVar[ConfigDict]
    \"\"\"The pydantic configuration of the model class.\"\"\"
    model_fields: ClassVar[_dict[str, FieldInfo]]
    \"\"\"The model's fields by attribute name (pydantic ``FieldInfo``, ``alias`` the JSON name).\"\"\"
    model_computed_fields: ClassVar[_dict[str, ComputedFieldInfo]]
    \"\"\"The model's computed fields (none in FHIR models).\"\"\"
    @property
    def model_extra(self) -> _dict[str, Any] | None:
        \"\"\"Extra fields set during validation (when the model allows them).\"\"\"
    @property
    def model_fields_set(self) -> set[str]:
        \"\"\"The fields explicitly set on this instance.\"\"\"
    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Self:
        \"\"\"An instance built from trusted data, without validation.\"\"\"
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        \"\"\"A copy of the model, with ``update`` applied (not validated).\"\"\"
    def model_dump(
        self, *, exclude_comments: bool = False, summary_only: bool = False, **pydantic_kwargs: Any
    ) -> _dict[str, Any]:
        \"\"\"The model as a dict (pydantic's ``model_dump`` keywords accepted).\"\"\"
    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        exclude_comments: bool = False,
        summary_only: bool = False,
        **pydantic_kwargs: Any,
    ) -> str:
        \"\"\"The model as FHIR JSON text.\"\"\"
    def model_dump_xml(
        self,
        *,
        pretty_print: bool = False,
        xml_declaration: bool = True,
        exclude_comments: bool = False,
        summary_only: bool = False,
        **pydantic_kwargs: Any,
    ) -> str:
        \"\"\"The model as FHIR XML text (needs fhir.resources' ``xml`` extra).\"\"\"
    def model_dump_yaml(
        self,
        *,
        indent: int | None = None,
        exclude_comments: bool = False,
        summary_only: bool = False,
        **pydantic_kwargs: Any,
    ) -> str:
        \"\"\"The model as YAML text (needs fhir.resources' ``yaml`` extra).\"\"\"
    def dict(
        self, *, exclude_comments: bool = False, summary_only: bool = False, **pydantic_kwargs: Any
    ) -> _dict[str, Any]:
        \"\"\"The model as a dict (as ``model_dump``).\"\"\"
    def json(
        self,
        *,
        indent: int | None = None,
        exclude_comments: bool = False,
        summary_only: bool = False,
        **pydantic_kwargs: Any,
    ) -> str:
        \"\"\"The model as FHIR JSON text (as ``model_dump_json``).\"\"\"
    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = None,
        ref_template: str = "#/$defs/{model}",
        schema_generator: type[GenerateJsonSchema] = ...,
        mode: JsonSchemaMode = "validation",
        *,
        union_format: Literal["any_of", "primitive_type_array"] = "any_of",
    ) -> _dict[str, Any]:
        \"\"\"The JSON schema of the model class.\"\"\"
    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        \"\"\"pydantic's name for a parametrized generic model.\"\"\"
    def model_post_init(self, context: Any, /) -> None:
        \"\"\"pydantic's hook after validation.\"\"\"
    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        \"\"\"Rebuild the pydantic schema of the model class.\"\"\"
    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        \"\"\"Validate Python data (a dict of JSON names) into an instance.\"\"\"
    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        \"\"\"Validate JSON text into an instance.\"\"\"
    @classmethod
    def model_validate_strings(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        \"\"\"Validate data whose leaves are strings into an instance.\"\"\"
    @classmethod
    def model_validate_xml(
        cls,
        xml_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        context: Any | None = None,
        xmlparser: Any | None = None,
    ) -> Self:
        \"\"\"Validate FHIR XML into an instance (needs fhir.resources' ``xml`` extra).\"\"\"
    @classmethod
    def model_validate_yaml(
        cls, yaml_data: str | bytes | bytearray, *, strict: bool | None = None, context: Any | None = None
    ) -> Self:
        \"\"\"Validate YAML into an instance (needs fhir.resources' ``yaml`` extra).\"\"\"
    @classmethod
    def element_properties(cls) -> Generator[FieldInfo, None, None]:
        \"\"\"The FieldInfo of each FHIR element of the model class.\"\"\"
    @classmethod
    def elements_sequence(cls) -> list[str]:
        \"\"\"The FHIR element names of the model class, in FHIR order.\"\"\"
    @classmethod
    def summary_element_properties(cls) -> Generator[FieldInfo, None, None]:
        \"\"\"The FieldInfo of each summary element of the model class.\"\"\"
    @classmethod
    def summary_elements_sequence(cls) -> list[str]:
        \"\"\"The summary element names of the model class, in FHIR order.\"\"\"
    @classmethod
    def has_resource_base(cls) -> bool:
        \"\"\"Whether the model class is a resource (not a datatype or backbone element).\"\"\"
    @classmethod
    def get_resource_type(cls) -> str:
        \"\"\"The FHIR type name of the model class (``"Patient"``).\"\"\"
    @classmethod
    def get_alias_mapping(cls) -> _dict[str, str]:
        \"\"\"JSON name -> attribute name for every field.\"\"\"
    @classmethod
    def get_json_encoder(cls) -> Callable[[Any], Any]:
        \"\"\"fhir.resources' JSON encoder for non-JSON values.\"\"\"
    def fhir_model_serializer(self, serialize: Callable[[Any], Any], info: Any) -> Any:
        \"\"\"fhir.resources' model serializer (pydantic hook).\"\"\"
    @classmethod
    def reject_null_complex_elements(cls, data: Any) -> Any:
        \"\"\"fhir.resources' validator refusing null complex elements (pydantic hook).\"\"\"
    def validate_after_model_construction(self) -> Self:
        \"\"\"fhir.resources' checks after validation (pydantic hook).\"\"\"
    def get_required_fields(self) -> list[tuple[str, str | None]]:
        \"\"\"(attribute, JSON name) of each required primitive element.\"\"\"
    def get_one_of_many_fields(self) -> _dict[str, list[str]]:
        \"\"\"Choice element name -> the fields of its types (``value[x]``).\"\"\"
    @classmethod
    def set_global_model_config(cls, **overrides: Any) -> None:
        \"\"\"Override the pydantic configuration of every FHIR model class.\"\"\"
    @classmethod
    def get_global_model_config(cls) -> _dict[str, Any]:
        \"\"\"The global configuration overrides in force.\"\"\"
    @classmethod
    def reset_global_model_config(cls) -> None:
        \"\"\"Drop the global configuration overrides.\"\"\"
    def __iter__(self) -> Iterator[tuple[str, Any]]: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: _dict[int, Any] | None = None) -> Self: ...
"""


def _root() -> str:
    return HEAD + '"""The root of the typed model stubs; see codegen/model_types.py."""\n\n' + ROOT_STUB


def stub_modules() -> dict[str, str]:
    """Class name -> stub module (``clinikfhir._generated.model_types.<module>``) for stubbed classes."""
    return {name: f"{PKG.replace('/', '.')}.{model_classes()[name].rsplit('.', 1)[1]}" for name in stubbed()}
