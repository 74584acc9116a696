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
    return list(_split_union(expression))


@functools.cache
def _split_union(expression: str) -> tuple[str, ...]:
    if "|" not in expression:  # one branch (most expressions)
        branch = expression.strip()
        return (branch,) if branch else ()
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
    return tuple(p for p in parts if p)


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


Step = tuple[str, Any]  # (op, argument) of one parsed path step
StepFn = Callable[[list[Item]], list[Item]]


def _choice_keys(name: str) -> dict[str, str]:
    """JSON key -> type suffix of every concrete key of the choice element ``name``."""
    return {name + suffix: suffix for suffix in _CHOICE_SUFFIXES}


@functools.cache
def _name_step(name: str) -> StepFn:
    """A step to the children ``name`` of each object; a choice element (``value``) also collects its
    concrete keys (``valueQuantity`` with kind ``Quantity``) when the plain key is absent."""
    if name not in CHOICE_ELEMENTS:

        def plain(items: list[Item]) -> list[Item]:
            out: list[Item] = []
            for value, _ in items:
                if isinstance(value, dict):
                    child: Any = value.get(name)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                    if child is None:
                        continue
                    if isinstance(child, list):
                        values: list[Any] = child  # pyright: ignore[reportUnknownVariableType]
                        out.extend((v, None) for v in values if v is not None)
                    else:
                        out.append((child, None))  # pyright: ignore[reportUnknownArgumentType]
            return out

        return plain
    keys = _choice_keys(name)

    def choice(items: list[Item]) -> list[Item]:
        out: list[Item] = []
        for value, _ in items:
            if not isinstance(value, dict):
                continue
            if name in value:
                _extend(out, value[name], None)
                continue
            for key, child in value.items():  # pyright: ignore[reportUnknownVariableType]
                suffix = keys.get(key)  # pyright: ignore[reportUnknownArgumentType]
                if suffix is not None:
                    _extend(out, child, suffix)
        return out

    return choice


@functools.cache
def _choice_as_step(name: str, wanted: str) -> StepFn:
    """``name`` then ``as(wanted)`` in one step: only the concrete keys of the wanted types are read
    (a plain ``name`` key has no type, so ``as`` would drop it)."""
    candidates = tuple((key, suffix) for key, suffix in _choice_keys(name).items() if _type_matches(suffix, wanted))

    def step(items: list[Item]) -> list[Item]:
        out: list[Item] = []
        for value, _ in items:
            if isinstance(value, dict) and name not in value:
                for key, suffix in candidates:
                    child = value.get(key)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                    if child is not None:
                        _extend(out, child, suffix)
        return out

    return step


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


def parse_branch(branch: str) -> tuple[Step, ...] | None:
    """The steps of one simple branch (``root``, ``resource``, ``name``, ``index``, ``as``,
    ``resolve``, ``where``), or None when the branch is not simple (fhirpathpy evaluates it)."""
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
    steps: list[Step] = []
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
    return tuple(steps)


def _filter_step(op: str, arg: Any) -> StepFn:
    """The function of one ``index``, ``as``, ``resolve`` or ``where`` step."""
    if op == "index":
        at: int = arg
        return lambda items: items[at : at + 1]
    if op == "as":
        # the kinds a value can carry are choice suffixes: match on the precomputed set
        kinds = frozenset(s for s in _CHOICE_SUFFIXES if _type_matches(s, arg))
        return lambda items: [it for it in items if it[1] in kinds]
    if op == "resolve":
        target: str = arg
        return lambda items: [it for it in items if _reference_is(it[0], target)]
    field, wanted = arg
    return lambda items: [it for it in items if is_obj(it[0]) and it[0].get(field) == wanted]


def _compile_steps(steps: tuple[Step, ...]) -> Evaluator:
    """An evaluator for parsed steps: each step a prebuilt function over the item list."""
    start = 0
    root: str | None = None
    from_resource = False
    if steps and steps[0][0] == "root":
        root, start = steps[0][1], 1
    elif steps and steps[0][0] == "resource":
        from_resource, start = True, 1
    # parse_branch yields ``root``/``resource`` only as the first step
    fns: list[StepFn] = []
    rest = steps[start:]
    i = 0
    while i < len(rest):
        op, arg = rest[i]
        if op == "name" and arg in CHOICE_ELEMENTS and i + 1 < len(rest) and rest[i + 1][0] == "as":
            fns.append(_choice_as_step(arg, rest[i + 1][1]))  # ``value.as(Quantity)``: look up those keys only
            i += 2
            continue
        fns.append(_name_step(arg) if op == "name" else _filter_step(op, arg))
        i += 1
    chain = tuple(fns)
    if rest and rest[0][0] == "name" and chain[0] is _name_step(rest[0][1]):  # (not a ``name.as(T)`` step)
        choice = rest[0][1] in CHOICE_ELEMENTS
        return _first_name(rest[0][1], chain[1:], root, from_resource, chain[0] if choice else None)

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        if root is not None and focus is None and resource.get("resourceType") != root:
            return []
        items: list[Item] = [(resource, None)] if from_resource or focus is None else [(focus, None)]
        for fn in chain:
            items = fn(items)
            if not items:
                return []
        return items

    return evaluate


def _first_name(
    name: str, chain: tuple[StepFn, ...], root: str | None, from_resource: bool, choice: StepFn | None
) -> Evaluator:
    """The evaluator of a path whose first step is the element ``name`` (most search paths:
    ``Observation.code``, ``Patient.name.family``): that child is read straight from the focus
    instead of through the step function (the same items, in the same order). For a choice element
    (``choice``, its step) without a plain ``name`` key, the step collects the concrete keys."""

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        if focus is None or from_resource:
            if root is not None and focus is None and resource.get("resourceType") != root:
                return []
            start: Any = resource
        else:
            start = focus
        if not isinstance(start, dict):
            return []
        child: Any = start.get(name)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if child is None:
            if choice is None or name in start:
                return []
            items: list[Item] = choice([(start, None)])
        elif isinstance(child, list):
            values: list[Any] = child  # pyright: ignore[reportUnknownVariableType]
            items = [(v, None) for v in values if v is not None]
        else:
            items = [(child, None)]
        for fn in chain:
            if not items:
                return []
            items = fn(items)
        return items

    return evaluate


def _compile_branch(branch: str) -> Evaluator | None:
    """A fast evaluator for one simple branch, or None when it is not simple."""
    steps = parse_branch(branch)
    return None if steps is None else _compile_steps(steps)


_DECEASED = "Patient.deceased.exists() and Patient.deceased != false"


def _deceased(fallback: Evaluator) -> Evaluator:
    """Patient's ``deceased`` token (the one R4 search expression that is not a path), evaluated in
    Python for the shapes R4 allows (one boolean or dateTime, or none); fhirpathpy for the rest."""
    step = _name_step("deceased")

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        if focus is not None or resource.get("resourceType") != "Patient":
            return fallback(resource, focus)
        values = step([(resource, None)])
        if not values:
            return [(False, None)]
        if len(values) == 1 and isinstance(values[0][0], bool | str):
            return [(values[0][0] is not False, None)]
        return fallback(resource, focus)

    return evaluate


def _fhirpathpy_evaluator(branch: str) -> Evaluator:
    """fhirpathpy's evaluator of ``branch``, compiled on its first use (importing fhirpathpy takes
    about 50 ms, and the one R4 expression that needs it, Patient's ``deceased``, rarely does)."""
    compiled: list[Any] = []

    def evaluate(resource: dict[str, Any], focus: Any) -> list[Item]:
        if not compiled:
            fhirpathpy: Any = importlib.import_module("fhirpathpy")
            r4: Any = importlib.import_module("fhirpathpy.models").models["r4"]
            compiled.append(fhirpathpy.compile(branch, r4))
        target = focus if focus is not None else resource
        result = compiled[0](target, {"resource": resource})
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
        if fast is None:
            fast = _fhirpathpy_evaluator(branch)
            if branch == _DECEASED:
                fast = _deceased(fast)
        branches.append(fast)

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


def start_keys(expression: str, *, relative: bool = False) -> frozenset[str] | None:
    """The JSON keys of the focus (the resource, or with ``relative`` the element a composite component
    is evaluated on) at least one of which every value of ``expression`` is found under; None when it
    can yield a value without any of them (a ``%resource`` path, a bare type, a FHIRPath function),
    so it has to run on every focus. ``value.as(Quantity)`` needs one of ``valueQuantity``,
    ``valueAge``...; ``value`` alone any key of the choice."""
    keys: set[str] = set()
    for branch in split_union(expression):
        steps = parse_branch(branch)
        if steps is None:
            return None
        if not relative:
            if steps[0][0] != "root":
                return None
            steps = steps[1:]
        if not steps or steps[0][0] != "name":
            return None
        name: str = steps[0][1]
        if name not in CHOICE_ELEMENTS:
            keys.add(name)
        elif len(steps) > 1 and steps[1][0] == "as":
            keys.update(key for key, suffix in _choice_keys(name).items() if _type_matches(suffix, steps[1][1]))
        else:
            keys.update(_choice_keys(name))
            keys.add(name)
    return frozenset(keys)
