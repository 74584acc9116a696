"""The structural walk over a resource's raw JSON: what the JSON itself gets right or wrong.

Per element: a known element of its type, the JSON shape (array or single value, no empty arrays,
no nulls), cardinality (``min``, ``max``, one type of a ``[x]`` choice), the JSON type and R4
lexical form of primitives, and the two structural rules every element carries (``ele-1``: not
empty; ``ext-1``: an extension has a value or extensions, not both).

The validator (``clinikfhir.validation``) extends :class:`StructureWalker` with the rules that need
more than the JSON's structure: required bindings, reference targets and the FHIR invariants. The
walker calls their hooks (:meth:`~StructureWalker.code_binding`, :meth:`~StructureWalker.element_rules`,
:meth:`~StructureWalker.invariant`), which do nothing here, at the points where they apply, so one
walk serves both and the order of the issues is the order of the elements.
"""

from __future__ import annotations

from typing import Any

from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir._generated.validation_schema import CONSTRAINTS
from clinikfhir._issues import Issue, Severity

from ._primitives import check_primitive
from ._schema import Field, Node, node

_ELE_1 = CONSTRAINTS["ele-1"][1]
_EXT_1 = CONSTRAINTS["ext-1"][1]


class StructureWalker:
    """Walks raw JSON against the R4 element tables, collecting :class:`~clinikfhir.Issue`\\ s in
    ``issues`` (rule keys ``structure``, ``unknown-element``, ``cardinality``, ``type``, ``format``,
    ``id``, ``ele-1``, ``ext-1``). Start with :meth:`resource`."""

    __slots__ = ("issues",)

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, severity: Severity, code: str, path: str, message: str, key: str) -> None:
        self.issues.append(Issue(severity, code, path, message, key))

    # -- hooks for the validator's rules (nothing to do for the structure alone) ---------------------

    def code_binding(self, code: str, url: str, path: str) -> None:
        """A ``code`` element bound to the required value set ``url`` (already a valid code)."""

    def element_rules(self, value: dict[str, Any], field: Field, path: str, root: dict[str, Any]) -> None:
        """A complex element with a required binding or reference targets, after its own walk."""

    def invariant(
        self, key: str, obj: Any, path: str, res: dict[str, Any], root: dict[str, Any], type_path: str
    ) -> None:
        """The invariant ``key`` of the element ``obj`` at ``path`` (of FHIRPath type ``type_path``)."""

    # -- the walk ------------------------------------------------------------------------------------

    def resource(
        self, data: dict[str, Any], path: str, root: dict[str, Any] | None, parent: dict[str, Any] | None
    ) -> str | None:
        """Walk one resource: at the top level (no ``parent``) or embedded at element ``path``.

        ``root`` is the container of a contained resource (its ``%rootResource``), else None.
        Returns the path the resource was walked at, or None when it names no R4 resource type.
        """
        rtype = data.get("resourceType")
        spec = node(rtype) if isinstance(rtype, str) and rtype in RESOURCE_TYPES else None
        if spec is None:
            # at the top level ``path`` is the caller's resourceType text: report a fixed path instead
            where = "Resource.resourceType" if parent is None else path + ".resourceType"
            self.add("error", "structure", where, "resourceType is not a FHIR R4 resource type", "structure")
            return None
        if parent is None:
            path = spec.name
        self.node(data, spec, path, data, root if root is not None else data)
        return path

    def node(self, obj: dict[str, Any], spec: Node, path: str, res: dict[str, Any], root: dict[str, Any]) -> None:
        """Walk a complex element (or a resource's own elements) against its node."""
        fields = spec.fields
        seen: dict[str, str] = {}  # element name -> the JSON key that carried it (choices)
        has_content = obj is res  # ele-1 is a rule for elements, not for resources
        for key, value in obj.items():
            if key == "resourceType" and obj is res:
                continue
            if key != "id":
                has_content = True
            if key[:1] == "_":
                self._primitive_extension(obj, key, value, fields, path, res, root)
                base = fields.get(key[1:])
                if base is not None:
                    seen.setdefault(base.element.name, key)
                continue
            field = fields.get(key)
            if field is None:
                self.add("error", "structure", f"{path}.{key}", "unknown element", "unknown-element")
                continue
            element = field.element
            if field.choice:
                other = seen.get(element.name)
                if other is not None and other != key and other != "_" + key:
                    self.add(
                        "error",
                        "structure",
                        f"{path}.{key}",
                        f"only one type of {element.name}[x] is allowed",
                        "cardinality",
                    )
            seen[element.name] = key
            self.field(value, field, f"{path}.{key}", obj, res, root)
        if not has_content:
            self.add("error", "invariant", path, _ELE_1, "ele-1")
        for element in spec.required:
            if element.name not in seen:
                suffix = "[x]" if any(f.choice for f in fields.values() if f.element is element) else ""
                self.add(
                    "error",
                    "required",
                    f"{path}.{element.name}{suffix}",
                    f"required element is missing (min {element.min})",
                    "cardinality",
                )
        if spec.name == "Extension":
            has_value = any(k.startswith("value") or k.startswith("_value") for k in obj)
            if ("extension" in obj) == has_value:
                self.add("error", "invariant", path, _EXT_1, "ext-1")
        for key in spec.invariants:
            self.invariant(key, obj, path, res, root, spec.type)

    def field(
        self, value: Any, field: Field, path: str, parent: dict[str, Any], res: dict[str, Any], root: dict[str, Any]
    ) -> None:
        element = field.element
        if element.max == 0:
            self.add("error", "structure", path, "element is not allowed here (max 0)", "cardinality")
            return
        if isinstance(value, list):
            if element.max == 1:
                self.add("error", "structure", path, "a single value is expected, not an array", "cardinality")
                return
            if not value:
                self.add("error", "structure", path, "arrays must not be empty", "structure")
                return
            if element.max > 1 and len(value) > element.max:  # pyright: ignore[reportUnknownArgumentType]
                self.add("error", "structure", path, f"at most {element.max} values are allowed", "cardinality")
            ext = parent.get("_" + field.element.name) if not field.child else None
            for i, item in enumerate(value):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                if item is None and isinstance(ext, list) and i < len(ext) and ext[i] is not None:  # pyright: ignore[reportUnknownArgumentType]
                    continue  # the value is absent, its extension is in _name[i]
                self.item(item, field, f"{path}[{i}]", res, root)
        elif element.max != 1:
            self.add("error", "structure", path, "an array is expected (the element repeats)", "structure")
        else:
            self.item(value, field, path, res, root)

    def item(self, value: Any, field: Field, path: str, res: dict[str, Any], root: dict[str, Any]) -> None:
        child = field.child
        element = field.element
        if value is None:
            self.add("error", "structure", path, "null is not a value", "structure")
            return
        if not child:
            problem = check_primitive(field.type, value)
            if problem:
                self.add("error", "value", path, problem[1], problem[0])
                return
            if element.value_set and field.type == "code":
                self.code_binding(value, element.value_set, path)
            for key in element.invariants:
                self.invariant(key, value, path, res, root, "")
            return
        if not isinstance(value, dict):
            self.add("error", "structure", path, f"a {field.type} object is expected", "type")
            return
        if child == "Resource":
            self.resource(value, path, root if element.name == "contained" else None, res)  # pyright: ignore[reportUnknownArgumentType]
            return
        spec = node(child)
        if spec is None:  # pragma: no cover - every type code of R4 has a node
            return
        # a profiled type (``Quantity=SimpleQuantity``) walks the profile's node: its cardinalities
        # (SimpleQuantity.comparator is max 0) and invariants (sqty-1) apply at this instance
        self.node(value, spec, path, res, root)  # pyright: ignore[reportUnknownArgumentType]
        if element.value_set or element.targets:
            self.element_rules(value, field, path, root)  # pyright: ignore[reportUnknownArgumentType]
        for key in element.invariants:
            self.invariant(key, value, path, res, root, spec.type)

    def _primitive_extension(
        self,
        obj: dict[str, Any],
        key: str,
        value: Any,
        fields: dict[str, Field],
        path: str,
        res: dict[str, Any],
        root: dict[str, Any],
    ) -> None:
        field = fields.get(key[1:])
        if field is None or field.child:
            self.add("error", "structure", f"{path}.{key}", "unknown element", "unknown-element")
            return
        path = f"{path}.{key[1:]}"  # FHIRPath sees the extension on the primitive element itself
        if field.element.max == 0 and key[1:] not in obj:  # (with a value, reported on the value)
            self.add("error", "structure", path, "element is not allowed here (max 0)", "cardinality")
            return
        spec = node("Element")
        assert spec is not None
        if isinstance(value, list):
            values = obj.get(key[1:])
            if values is not None and (not isinstance(values, list) or len(values) != len(value)):  # pyright: ignore[reportUnknownArgumentType]
                self.add("error", "structure", path, "must align with the values array", "structure")
            for i, item in enumerate(value):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                if item is not None:
                    if isinstance(item, dict):
                        self.node(item, spec, f"{path}[{i}]", res, root)  # pyright: ignore[reportUnknownArgumentType]
                    else:
                        self.add("error", "structure", f"{path}[{i}]", "an object is expected", "type")
        elif isinstance(value, dict):
            self.node(value, spec, path, res, root)  # pyright: ignore[reportUnknownArgumentType]
        else:
            self.add("error", "structure", path, "an object is expected", "type")


def walk_resource(walker: StructureWalker, data: Any) -> None:
    """Walk ``data`` (a resource's JSON, already decoded) with ``walker``, which collects the issues:
    the one entry point of this walk and of the validator's, which extends it."""
    if not isinstance(data, dict):
        walker.add("fatal", "structure", "Resource", "a FHIR resource is a JSON object", "structure")
    else:
        rtype = data.get("resourceType")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(rtype, str):
            walker.add("fatal", "structure", "Resource", "resourceType is missing", "structure")
        else:
            walker.resource(data, rtype, None, None)  # pyright: ignore[reportUnknownArgumentType]


def structure_issues(data: Any) -> list[Issue]:
    """The structural issues of ``data`` (a resource's JSON, already decoded), in element order."""
    walker = StructureWalker()
    walk_resource(walker, data)
    return walker.issues
