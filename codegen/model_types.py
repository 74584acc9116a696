"""Emit typed model stubs: ``clinikfhir/_generated/model_types/<module>.pyi``, for type checkers and
editors only (the run-time classes stay fhir.resources R4B classes; ``model_imports`` re-exports
these stubs under ``TYPE_CHECKING``).

Every R4 resource, datatype and backbone element that R4B models gets a stub class that subclasses
its run-time class and declares **every** run-time field, typed from the R4 StructureDefinition, each
with the element's R4 short definition as its docstring (what an editor shows on hover):

- a nested element or datatype is typed by its stub class (``Patient.contact`` is
  ``list[PatientContact]``, ``Observation.valueQuantity`` a stub ``Quantity``), so what follows holds
  at every depth (``p.contact[0].gender``, ``obs.component[0].valueQuantity.comparator``);
- a ``code`` element with a **required** binding: ``Literal[...]`` of the value set's codes (from
  ``required-value-sets.json``), so ``Patient(gender="x")`` and ``obs.status = "done"`` are type
  errors; extensible and preferred bindings stay ``str``;
- a ``date``, ``dateTime``, ``instant`` or ``time`` element: the Python type ``| str``, since R4
  accepts the string form and a partial date (``"1990"``) reads back as a string;
- anything else has the type of the run-time field (lists as ``list[...]``, ``Resource`` elements as
  fhir.resources' ``Resource``, the base of every run-time and stub resource).

Names are the run-time field names, which is also what the constructor takes: a choice element
``value[x]`` is one field per type (``valueQuantity``, ``valueString``, ...); a JSON name that is a
Python keyword takes ``_fhir`` (``class`` -> ``class_fhir``, ``import`` -> ``import_fhir``); the
primitive extension ``_name`` is ``name__ext``. Each docstring names the JSON name when it differs.
Stubs subclass their stub base too where R4B has one (``Age`` is a ``Quantity``). The abstract bases
(``Element``, ``BackboneElement``, ``Resource``, ``DomainResource``) and ``CapabilityStatement`` and
``OperationOutcome`` (which the clients return as their run-time classes, so that
``caps: CapabilityStatement = clinik.capabilities()`` stays valid) are not stubbed.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import importlib
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
# Returned as their run-time classes by the clients (``capabilities()``, ``validate()``): a stub
# subclass would make ``caps: CapabilityStatement = clinik.capabilities()`` a type error.
UNSTUBBED = {"CapabilityStatement", "OperationOutcome"}
# Abstract bases: fields of these types hold any subclass, run-time or stub alike.
ABSTRACT = {"Element", "BackboneElement", "Resource", "DomainResource"}
# Not an R4 type, but the type of every ``name__ext`` field: stubbed so its ``extension`` is typed too.
EXTRA = {"FHIRPrimitiveExtension": ("Element", "")}


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


def stubbed() -> dict[str, tuple[str, str]]:
    """Class -> (R4 type, element path) for every class that gets a stub."""
    out = {n: p for n, p in class_paths().items() if n not in UNSTUBBED and n not in ABSTRACT}
    return {**out, **{n: p for n, p in EXTRA.items() if n in model_classes()}}


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
        self.r4b: set[str] = {short_name}
        self.stubs: dict[str, set[str]] = {}
        self.std: set[str] = set()

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
            text = _sentence(field.title or attr) + " Not an R4 element (R4B adds it)."
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


def _stub_bases(module: _Module, name: str) -> str:
    cls = _runtime(name)
    bases = [f"_{module.short}.{name}"]
    parent = cls.__bases__[0].__name__
    if parent in stubbed():
        bases.append(module.model(parent))
    return ", ".join(bases)


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
        about = short(type_name, rel) if name not in EXTRA else "The id and extensions of a primitive value"
        lines = [
            "",
            "",
            f"class {name}({_stub_bases(module, name)}):",
            _doc(f"{_sentence(about)} (R4 ``{where}``; run-time class {classes[name]}.{name}.)"),
            "",
        ]
        for attr in sorted(cls.model_fields, key=lambda a: (a == "fhir_comments", a.lower(), a)):
            lines += _field(module, cls, attr, type_name, rel, value_sets)
        bodies.setdefault(short_name, []).extend(lines)
    files: dict[str, str] = {
        f"{PKG}/__init__.py": HEAD
        + '"""Typed model stubs (``.pyi``), read by type checkers only; see codegen/model_types.py."""\n'
    }
    for short_name, body in sorted(bodies.items()):
        module = modules[short_name]
        code = "\n".join(body)
        # a required field (``Field(default=...)`` at run time) re-declared without a default reads to
        # pyright as a lost default; the stub keeps it required, as it is at run time
        general = (
            ", reportGeneralTypeIssues=false"
            if any(ln.startswith("    ") and ": " in ln and " = None" not in ln and '"""' not in ln for ln in body)
            else ""
        )
        text = [
            HEAD.rstrip("\n"),
            '# mypy: disable-error-code="assignment, misc, override"',
            "# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false" + general,
            f'"""Typed stubs over ``fhir.resources.R4B.{short_name}``: every element typed from R4."""',
            "",
            *(["import datetime as _dt"] if "_dt." in code else []),
            *(["import decimal as _decimal"] if "_decimal." in code else []),
            *(["import uuid as _uuid"] if "_uuid." in code else []),
            *(["from typing import Literal"] if "Literal[" in code else []),
            "",
            *(["from pydantic import AnyUrl as _AnyUrl"] if "_AnyUrl" in code else []),
            *(f"from fhir.resources.R4B import {m} as _{m}" for m in sorted(module.r4b)),
            "",
            *(f"from .{m} import {', '.join(sorted(names))}" for m, names in sorted(module.stubs.items())),
            *body,
            "",
        ]
        files[f"{PKG}/{short_name}.pyi"] = "\n".join(text)
    return files


def stub_modules() -> dict[str, str]:
    """Class name -> stub module (``clinikfhir._generated.model_types.<module>``) for stubbed classes."""
    return {name: f"{PKG.replace('/', '.')}.{model_classes()[name].rsplit('.', 1)[1]}" for name in stubbed()}
