"""Emit per-class construction plans for the fhir.resources R4B models (the trusted read path).

For every model class, the plan lists its JSON elements in specification order (each primitive
followed by its ``_element`` extension sibling) as ``(json key, field name, kind, target)``:

* ``kind`` says how a JSON value becomes the field's value: ``str``, ``bool``, ``int``,
  ``decimal``, ``date``, ``datetime``, ``instant``, ``time``, ``url``, ``base64``, ``uuid``,
  ``comments`` (``fhir_comments``), ``model`` (a nested model of class ``target``) or ``resource``
  (any resource, chosen by its ``resourceType``); a ``list:`` prefix means a JSON array of those,
  ``list?:`` an array whose items may be ``null`` (primitive arrays and their extension siblings).
* ``target`` is the nested model's class name (``None`` for primitives).

The plans are read from the models' own field definitions (annotations and ``elements_sequence``),
so they cannot drift from the pinned fhir.resources version. One module per fhir.resources module
is emitted under ``clinikfhir/_generated/model_plans/`` so that plans load lazily, class by class.
"""

from __future__ import annotations

import importlib
import typing
from typing import Any

from ._common import GENERATED, header
from .model_index import model_classes

HEAD = header("codegen/model_plans.py")
PACKAGE = f"{GENERATED}/model_plans"

_STRING_MARKERS = {"String", "Code", "Id", "Uri", "Canonical", "Markdown", "Oid", "Xhtml"}
_MARKER_KINDS = {
    "Decimal": "decimal",
    "Integer": "int",
    "Integer64": "int",
    "UnsignedInt": "int",
    "PositiveInt": "int",
    "Date": "date",
    "DateTime": "datetime",
    "Instant": "instant",
    "Time": "time",
    "Url": "url",
    "Base64Binary": "base64",
    "UuidVersion": "uuid",
}


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) != len(typing.get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007
    return tp, False


def _item_kind(tp: Any) -> tuple[str, str | None]:
    """Classify one (non-list) annotation: (kind, target class name)."""
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    if tp is bool:
        return "bool", None
    if isinstance(tp, type) and issubclass(tp, FhirBase):
        target = tp._model_klass.rsplit(".", 1)[1]
        if issubclass(tp, FhirElementOrResourceBase):
            if target != "Resource":
                raise SystemExit(f"unexpected polymorphic element type {tp!r}")
            return "resource", None
        return "model", target
    if typing.get_origin(tp) is typing.Annotated:
        names = {type(m).__name__ for m in tp.__metadata__}
        if names & _STRING_MARKERS:
            return "str", None
        for marker, kind in _MARKER_KINDS.items():
            if marker in names:
                return kind, None
    if typing.get_origin(tp) is typing.Union:
        kinds = {_item_kind(a)[0] for a in typing.get_args(tp)}
        if kinds == {"str"}:  # FHIRResourceModel.id: Union[Id, String]
            return "str", None
    raise SystemExit(f"codegen/model_plans.py cannot classify the annotation {tp!r}")


def field_kind(name: str, annotation: Any) -> tuple[str, str | None]:
    """Classify a model field's annotation into a plan kind and its target class."""
    if name == "fhir_comments":
        return "comments", None
    tp, _ = _strip_optional(annotation)
    if typing.get_origin(tp) is list:
        item, item_optional = _strip_optional(typing.get_args(tp)[0])
        kind, target = _item_kind(item)
        return ("list?:" if item_optional else "list:") + kind, target
    return _item_kind(tp)


def class_plan(cls: Any) -> tuple[str | None, list[tuple[str, str, str, str | None]]]:
    """The plan of one model class: its resourceType (None for datatypes) and its elements."""
    fields = cls.model_fields
    by_alias = {(info.alias or name): name for name, info in fields.items()}
    entries: list[tuple[str, str, str, str | None]] = []
    seen: set[str] = set()
    sequence = cls.elements_sequence() or [  # abstract bases (FHIRResourceModel) have no sequence
        (info.alias or name) for name, info in fields.items() if not name.endswith("__ext") and name != "fhir_comments"
    ]
    for element in sequence:
        name = by_alias.get(element, element)
        if name not in fields:
            raise SystemExit(f"{cls.__name__}.{element} is in elements_sequence but not a field")
        kind, target = field_kind(name, fields[name].annotation)
        entries.append((element, name, kind, target))
        seen.add(name)
        ext = f"{name}__ext"
        if ext not in fields and fields.get(f"{element}__ext") is not None:
            ext = f"{element}__ext"  # keyword elements: field import_fhir, extension import__ext
        if ext in fields:
            ext_kind, ext_target = field_kind(ext, fields[ext].annotation)
            entries.append((fields[ext].alias or ext, ext, ext_kind, ext_target))
            seen.add(ext)
    entries.append(("fhir_comments", "fhir_comments", "comments", None))
    seen.add("fhir_comments")
    missing = sorted(set(fields) - seen)
    if missing:
        raise SystemExit(f"{cls.__name__}: fields {missing} are not in elements_sequence")
    resource_type = cls.__resource_type__ if cls.has_resource_base() else None
    return resource_type, entries


def emit() -> dict[str, str]:
    import fhir.resources

    version = getattr(fhir.resources, "__version__", "unknown")
    by_module: dict[str, list[str]] = {}
    for name, module in model_classes().items():
        by_module.setdefault(module, []).append(name)
    out: dict[str, str] = {}
    index_lines: list[str] = []
    for module, names in sorted(by_module.items()):
        short = module.rsplit(".", 1)[1]
        lines = [
            HEAD + f"# Model source: fhir.resources {version} ({module}).",
            f'"""Construction plans for the classes of ``{module}`` (see codegen/model_plans.py)."""',
            "",
            "from typing import Final",
            "",
            "PLANS: Final[dict[str, tuple[str | None, tuple[tuple[str, str, str, str | None], ...]]]] = {",
        ]
        for name in sorted(names):
            cls = getattr(importlib.import_module(module), name)
            resource_type, entries = class_plan(cls)
            lines.append(f"    {name!r}: (")
            lines.append(f"        {resource_type!r},")
            lines.append("        (")
            lines.extend(f"            {entry!r}," for entry in entries)
            lines.append("        ),")
            lines.append("    ),")
            index_lines.append(f"    {name!r}: {short!r},")
        lines += ["}", ""]
        out[f"{PACKAGE}/{short}.py"] = "\n".join(lines)
    out[f"{PACKAGE}/__init__.py"] = "\n".join(
        [
            HEAD + f"# Model source: fhir.resources {version} (R4B package).",
            '"""Per-class construction plans for the R4B models; one submodule per model module, loaded lazily."""',
            "",
            "from typing import Final",
            "",
            f"FHIR_RESOURCES_VERSION: Final = {version!r}",
            "",
            "# class name -> submodule of this package holding its plan",
            "PLAN_MODULES: Final[dict[str, str]] = {",
            *sorted(index_lines),
            "}",
            "",
        ]
    )
    return out
