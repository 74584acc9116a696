"""Emit typed model stubs: ``clinikfhir/_generated/model_types/<module>.pyi``, for type checkers and
editors only (the run-time classes stay fhir.resources R4B classes; ``model_imports`` re-exports
these stubs under ``TYPE_CHECKING``).

Each stub class subclasses its run-time class and re-declares only the fields R4 says more about,
each with a docstring (the model's short definition plus what the stub adds):

- a ``code`` element with a **required** binding: ``Literal[...]`` of the value set's codes (from
  ``required-value-sets.json``), so ``Patient(gender="x")`` and ``obs.status = "done"`` are type
  errors; extensible and preferred bindings stay ``str``;
- a ``date``, ``dateTime``, ``instant`` or ``time`` element: the Python type ``| str``, since R4
  accepts the string form and a partial date (``"1990"``) reads back as a string;
- an element whose JSON name is a Python keyword: declared under its run-time name without the
  alias (``class_fhir`` for ``class``), the keyword the model really accepts.

Other fields are inherited unchanged. Mapping of JSON names to attribute names: the attribute is the
JSON name, except Python keywords, which take ``_fhir`` (``class`` -> ``class_fhir``,
``import`` -> ``import_fhir``); ``_name`` (primitive extensions) is ``name__ext``.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import importlib
import keyword
import types
import typing
from typing import Any

from ._common import GENERATED, header, load
from .model_index import model_classes

PKG = f"{GENERATED}/model_types"
HEAD = header("codegen/model_types.py", "structure-definitions.json", "required-value-sets.json")
DATE_TYPES = {
    "date": "_dt.date | str",
    "dateTime": "_dt.datetime | _dt.date | str",
    "instant": "_dt.datetime | str",
    "time": "_dt.time | str",
}
MAX_CODES = 250  # a Literal longer than this helps nobody in a hover
# Returned as their run-time classes by the clients (``capabilities()``, ``validate()``): a stub
# subclass would make ``caps: CapabilityStatement = clinik.capabilities()`` a type error.
UNSTUBBED = {"CapabilityStatement", "OperationOutcome"}


def _class_paths() -> dict[str, tuple[str, dict[str, dict[str, Any]]]]:
    """Model class name -> (element path, {child name: element}) for every R4 type and backbone."""
    out: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {}
    for sd in load("structure-definitions.json")["structureDefinitions"]:
        if sd.get("derivation") == "constraint" or sd.get("kind") not in ("resource", "complex-type"):
            continue
        elements = sd["elements"]
        parents = {e["path"] for e in elements} | {e["path"].rsplit(".", 1)[0] for e in elements if "." in e["path"]}
        for path in sorted(parents):
            segments = path.split(".")
            name = segments[0] + "".join(s[:1].upper() + s[1:] for s in segments[1:])
            children = {
                e["path"][len(path) + 1 :]: e
                for e in elements
                if e["path"].startswith(path + ".") and "." not in e["path"][len(path) + 1 :]
            }
            if children:
                out.setdefault(name, (path, children))
    return out


def _value_sets() -> dict[str, list[str]]:
    data: dict[str, Any] = load("required-value-sets.json")
    return {url: sorted({code for _system, code in entry["codes"]}) for url, entry in data.items()}


def _render(annotation: Any, imports: set[str]) -> str | None:
    """A stub type expression for a run-time field annotation, or None when it has no plain form."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _render(typing.get_args(annotation)[0], imports)
    if origin in (typing.Union, types.UnionType):
        parts = [_render(a, imports) for a in typing.get_args(annotation)]
        return None if None in parts else " | ".join(typing.cast(list[str], parts))
    if origin in (list, typing.List):  # noqa: UP006
        (arg,) = typing.get_args(annotation)
        inner = _render(arg, imports)
        return None if inner is None else f"list[{inner}]"
    if annotation is type(None):
        return "None"
    if annotation in (str, int, bool, float):
        return annotation.__name__
    if annotation is decimal.Decimal:
        return "_decimal.Decimal"
    if annotation in (datetime.date, datetime.datetime, datetime.time):
        return f"_dt.{annotation.__name__}"
    module = getattr(annotation, "__module__", "")
    name = getattr(annotation, "__name__", "")
    if isinstance(annotation, type) and name.endswith("Type") and name[:-4] in model_classes():
        module, name = model_classes()[name[:-4]], name[:-4]  # fhirtypes.CodingType: a Coding
        short = module.rsplit(".", 1)[1]
        imports.add(short)
        return f"_{short}.{name}"
    if isinstance(annotation, type) and module.startswith("fhir.resources.R4B."):
        short = module.rsplit(".", 1)[1]
        imports.add(short)
        return f"_{short}.{annotation.__name__}"
    return None


def _doc(text: str) -> str:
    text = " ".join(text.split()).replace("\\", "\\\\").replace('"""', "'''")
    if text.endswith('"'):
        text += " "
    return f'    """{text}"""'


def _fields(
    cls: Any, children: dict[str, dict[str, Any]], value_sets: dict[str, list[str]], imports: set[str]
) -> list[str]:
    by_json = {(f.alias or n): n for n, f in cls.model_fields.items()}
    lines: list[str] = []
    for child in sorted(children):
        element = children[child]
        codes = [t["code"] for t in element.get("type", [])]
        many = element.get("max") == "*"
        if child.endswith("[x]"):
            base = child[:-3]
            options = [(base + c[:1].upper() + c[1:], c) for c in codes]
        else:
            options = [(child, c) for c in codes[:1]]
        for json_name, code in options:
            attr = by_json.get(json_name)
            if attr is None:
                continue  # R4 element the R4B model lacks: not a member at run time either
            field = cls.model_fields[attr]
            binding = element.get("binding") or {}
            note = ""
            if code in DATE_TYPES:
                kind = DATE_TYPES[code]
                note = (
                    f"R4 ``{code}``: a Python value or its FHIR string; a partial value such as"
                    ' ``"1990"`` reads back as a string.'
                )
            elif code == "code" and binding.get("strength") == "required":
                values = value_sets.get(binding.get("valueSet", "").split("|")[0])
                if not values or len(values) > MAX_CODES:
                    continue
                kind = "Literal[" + ", ".join(repr(v) for v in values) + "]"
                note = f"Required binding ({binding['valueSet'].split('|')[0]}): {' | '.join(values)}."
            elif attr != json_name and keyword.iskeyword(json_name):
                rendered = _render(field.annotation, imports)
                if rendered is None:
                    continue
                note = f"JSON name ``{json_name}`` (a Python keyword)."
                lines += _field_lines(attr, rendered, field, note, many=None)
                continue
            else:
                continue
            if attr != json_name:
                note += f" JSON name ``{json_name}``."
            lines += _field_lines(attr, kind, field, note, many=many)
    return lines


def _field_lines(attr: str, kind: str, field: Any, note: str, *, many: bool | None) -> list[str]:
    if many:
        kind = f"list[{kind}]"
    required = field.is_required()
    annotation = kind if required else f"{kind} | None"
    if many is None:  # rendered from the run-time annotation as it is
        annotation = kind
    title = (field.title or "").strip()
    doc = f"{title}. {note}" if title and not title.endswith(".") else f"{title} {note}"
    return [f"    {attr}: {annotation}" + ("" if required else " = None"), _doc(doc.strip())]


def emit() -> dict[str, str]:
    return dict(_emit())


@functools.cache
def _emit() -> dict[str, str]:
    classes = model_classes()
    paths = _class_paths()
    value_sets = _value_sets()
    per_module: dict[str, list[str]] = {}
    imports_per_module: dict[str, set[str]] = {}
    for name, module in classes.items():
        if name not in paths or name in UNSTUBBED:
            continue
        cls = getattr(importlib.import_module(module), name)
        imports = imports_per_module.setdefault(module, set())
        lines = _fields(cls, paths[name][1], value_sets, imports)
        if not lines:
            continue
        short = module.rsplit(".", 1)[1]
        per_module.setdefault(module, []).extend(
            [
                "",
                "",
                f"class {name}(_{short}.{name}):",
                _doc(f"{paths[name][0]}: the R4B model class, typed from the R4 definition."),
                "",
                *lines,
            ]
        )
    files: dict[str, str] = {
        f"{PKG}/__init__.py": HEAD
        + '"""Typed model stubs (``.pyi``), read by type checkers only; see codegen/model_types.py."""\n'
    }
    for module, body in sorted(per_module.items()):
        short = module.rsplit(".", 1)[1]
        imported = sorted(imports_per_module[module] | {short})
        code = "\n".join(body)
        # a required field (``Field(default=...)`` at run time) re-declared without a default reads to
        # pyright as a lost default; the stub keeps it required, as it is at run time
        general = (
            ", reportGeneralTypeIssues=false"
            if any(
                ": " in ln and " = None" not in ln and ln.startswith("    ") and not ln.strip().startswith('"')
                for ln in body
            )
            else ""
        )
        text = [
            HEAD.rstrip("\n"),
            '# mypy: disable-error-code="assignment, misc, override"',
            "# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false" + general,
            f'"""Typed stubs over ``{module}``: required codes as ``Literal``, dates that accept strings."""',
            "",
            *(["import datetime as _dt"] if "_dt." in code else []),
            *(["import decimal as _decimal"] if "_decimal." in code else []),
            *(["from typing import Literal"] if "Literal[" in code else []),
            "",
            *(f"from fhir.resources.R4B import {m} as _{m}" for m in imported),
            *body,
            "",
        ]
        files[f"{PKG}/{short}.pyi"] = "\n".join(text)
    return files


def stub_modules() -> dict[str, str]:
    """Class name -> stub module (``clinikfhir._generated.model_types.<module>``) for stubbed classes."""
    out: dict[str, str] = {}
    for path, text in _emit().items():
        if path.endswith(".pyi"):
            module = path[: -len(".pyi")].replace("/", ".")
            for line in text.splitlines():
                if line.startswith("class "):
                    out[line[len("class ") : line.index("(")]] = module
    return out
