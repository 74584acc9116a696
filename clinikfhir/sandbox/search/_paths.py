"""Evaluate search-parameter FHIRPath expressions on resource JSON, compiled once and cached.

Most R4 search expressions are unions of simple paths (``Observation.value as Quantity``,
``Observation.subject.where(resolve() is Patient)``, ``Patient.telecom.where(system='email')``,
``Bundle.entry[0].resource``). Those are compiled here into plain dict/list walks that also remember
the FHIR type of choice elements (``valueQuantity`` -> ``Quantity``). Anything else falls back to
``fhirpathpy`` (compiled once per expression with the R4 model).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import Any

from clinikfhir._generated.search_choice_elements import CHOICE_ELEMENTS

from ._json import is_list, is_obj

Item = tuple[Any, str | None]  # a value and, when known, its FHIR type name (from a choice suffix)
Evaluator = Callable[[dict[str, Any], Any], list[Item]]

# Quantity's profiled subtypes: ``x as Quantity`` also admits these choice suffixes.
_SUBTYPES: dict[str, frozenset[str]] = {
    "quantity": frozenset({"quantity", "age", "count", "distance", "duration", "simplequantity", "moneyquantity"}),
    "uri": frozenset({"uri", "url", "canonical", "oid", "uuid"}),
    "string": frozenset({"string", "code", "id", "markdown"}),
    "integer": frozenset({"integer", "positiveint", "unsignedint"}),
}
_STEP_RE = re.compile(
    r"""\.(?:
        as\((?P<as>[A-Za-z]+)\)
      | ofType\((?P<oftype>[A-Za-z]+)\)
      | where\(resolve\(\)\s+is\s+(?P<resolve>[A-Za-z]+)\)
      | where\((?P<wfield>[a-zA-Z]+)\s*=\s*'(?P<wvalue>[^']*)'\)
      | (?P<name>[a-z][A-Za-z0-9]*)(?:\[(?P<index>\d+)\])?
    )""",
    re.VERBOSE,
)
_ROOT_RE = re.compile(r"^(?P<root>%resource|[A-Z][A-Za-z]*|[a-z][A-Za-z0-9]*)(?:\[(?P<index>\d+)\])?")
# Type names a choice element's JSON key can end with (``value[x]`` -> ``valueQuantity``).
_CHOICE_SUFFIXES = frozenset(
    [
        "Base64Binary",
        "Boolean",
        "Canonical",
        "Code",
        "Date",
        "DateTime",
        "Decimal",
        "Id",
        "Instant",
        "Integer",
        "Markdown",
        "Oid",
        "PositiveInt",
        "String",
        "Time",
        "UnsignedInt",
        "Uri",
        "Url",
        "Uuid",
        "Address",
        "Age",
        "Annotation",
        "Attachment",
        "CodeableConcept",
        "Coding",
        "ContactPoint",
        "Count",
        "Distance",
        "Duration",
        "HumanName",
        "Identifier",
        "Money",
        "Period",
        "Quantity",
        "Range",
        "Ratio",
        "Reference",
        "SampledData",
        "Signature",
        "Timing",
        "ContactDetail",
        "Contributor",
        "DataRequirement",
        "Expression",
        "ParameterDefinition",
        "RelatedArtifact",
        "TriggerDefinition",
        "UsageContext",
        "Dosage",
        "Meta",
    ]
)


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath union ``a | b`` at top level (outside parentheses and quotes)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _children(items: list[Item], name: str) -> list[Item]:
    out: list[Item] = []
    for value, _ in items:
        if not is_obj(value):
            continue
        if name in value:
            _extend(out, value[name], None)
            continue
        if name not in CHOICE_ELEMENTS:
            continue
        # a choice element: valueQuantity, effectiveDateTime, ...
        for key, child in value.items():
            if len(key) > len(name) and key.startswith(name) and key[len(name)].isupper():
                suffix = key[len(name) :]
                if suffix in _CHOICE_SUFFIXES:
                    _extend(out, child, suffix)
    return out


def _extend(out: list[Item], value: Any, kind: str | None) -> None:
    if is_list(value):
        out.extend((v, kind) for v in value if v is not None)
    elif value is not None:
        out.append((value, kind))


def _type_matches(kind: str | None, wanted: str) -> bool:
    if kind is None:
        return False
    kind, wanted = kind.lower(), wanted.lower()
    return kind == wanted or kind in _SUBTYPES.get(wanted, ())


def _reference_is(value: Any, wanted: str) -> bool:
    if not is_obj(value):
        return False
    ref = value.get("reference")
    if isinstance(ref, str):
        path = ref.split("/_history/")[0].rstrip("/")
        pieces = path.split("/")
        return len(pieces) >= 2 and pieces[-2] == wanted
    return value.get("type") == wanted


def _compile_branch(branch: str) -> Evaluator | None:
    """A fast evaluator for one simple branch, or None when it is not simple."""
    text = _strip_parens(branch)
    # ``(X as T).rest`` is ``X.as(T).rest``
    text = re.sub(r"^\(([^()]*?)\s+as\s+([A-Za-z]+)\)(?=\.)", r"\1.as(\2)", text)
    cast: str | None = None
    m_as = re.match(r"^(?P<body>.*?)\s+as\s+(?P<type>[A-Za-z]+)$", text)
    if m_as:
        text = _strip_parens(m_as.group("body"))
        cast = m_as.group("type")
    m_root = _ROOT_RE.match(text)
    if m_root is None:
        return None
    root = m_root.group("root")
    root_index = m_root.group("index")
    steps: list[tuple[str, Any]] = []
    if root == "%resource":
        steps.append(("resource", None))
    elif root[0].isupper():
        steps.append(("root", root))
    else:
        steps.append(("name", root))
    if root_index is not None:
        steps.append(("index", int(root_index)))
    pos = m_root.end()
    while pos < len(text):
        m = _STEP_RE.match(text, pos)
        if m is None:
            return None
        if m.group("as") or m.group("oftype"):
            steps.append(("as", m.group("as") or m.group("oftype")))
        elif m.group("resolve"):
            steps.append(("resolve", m.group("resolve")))
        elif m.group("wfield"):
            steps.append(("where", (m.group("wfield"), m.group("wvalue"))))
        else:
            steps.append(("name", m.group("name")))
            if m.group("index") is not None:
                steps.append(("index", int(m.group("index"))))
        pos = m.end()
    if cast is not None:
        steps.append(("as", cast))
    frozen = tuple(steps)

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        items: list[Item] = [(focus, None)] if focus is not None else [(resource, None)]
        for op, arg in frozen:
            if op == "resource":
                items = [(resource, None)]
            elif op == "root":
                if focus is None and resource.get("resourceType") != arg:
                    return []
            elif op == "name":
                items = _children(items, arg)
            elif op == "index":
                items = items[arg : arg + 1]
            elif op == "as":
                items = [it for it in items if _type_matches(it[1], arg)]
            elif op == "resolve":
                items = [it for it in items if _reference_is(it[0], arg)]
            else:  # where(field='value')
                field, wanted = arg
                items = [it for it in items if is_obj(it[0]) and it[0].get(field) == wanted]
            if not items:
                return []
        return items

    return evaluate


def _fhirpathpy_evaluator(branch: str) -> Evaluator:
    fhirpathpy: Any = importlib.import_module("fhirpathpy")
    r4: Any = importlib.import_module("fhirpathpy.models").models["r4"]
    compiled: Any = fhirpathpy.compile(branch, r4)

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        target = focus if focus is not None else resource
        result = compiled(target, {"resource": resource})
        values: list[Any] = result if is_list(result) else [result]
        return [(v, None) for v in values if v is not None]

    return evaluate


@functools.cache
def compile_expression(expression: str) -> Evaluator:
    """Compile a (possibly union) expression once; the result maps (resource, focus) to items.

    ``focus`` is None for expressions rooted at the resource type, or the element a composite
    component expression is relative to.
    """
    branches: list[Evaluator] = []
    for branch in split_union(expression):
        fast = _compile_branch(branch)
        branches.append(fast if fast is not None else _fhirpathpy_evaluator(branch))

    if len(branches) == 1:
        return branches[0]

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        out: list[Item] = []
        for branch_eval in branches:
            out.extend(branch_eval(resource, focus))
        return out

    return evaluate


def is_fast(expression: str) -> bool:
    """True when every branch of the expression runs on the compiled fast path."""
    return all(_compile_branch(b) is not None for b in split_union(expression))
