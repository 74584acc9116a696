"""Emit the search-parameter table: per resource type, every R4 SearchParameter that applies to it.

The table (``clinikfhir/_generated/search_parameters.py``) is the single source of truth shared by the
client's query builder and the sandbox's search engine. For each resource type it holds:

- the parameters whose ``base`` names the type, with the FHIRPath ``expression`` cut down to the
  union branches that start with that type (``Observation.code | Condition.code`` -> the branch for
  each); parentheses, ``as``/``ofType``, ``where(...)`` and ``resolve()`` are respected when splitting;
- the ``Resource`` and ``DomainResource`` parameters (``_id``, ``_lastUpdated``, ``_tag``...) on every
  type, their expression rewritten to start with the type (``Resource.id`` -> ``Patient.id``);
- reference ``targets`` narrowed, where the structure definitions allow, to what this type's element
  can actually point at (``where(resolve() is Patient)`` or the element's target profiles);
- composite ``components`` resolved from their definition URL to the component parameter's code.

One quirk of the official input is repaired: ``InsurancePlan-name`` has the relative expression
``name | alias``; its branches are prefixed with the base type like every other expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._common import GENERATED, header, load
from .resource_types import r4_resource_types

INPUTS = ("search-parameters.json", "structure-definitions.json")
COMMON_BASES = ("Resource", "DomainResource")
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on its top-level ``|`` (outside parentheses and string literals)."""
    branches: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for ch in expression:
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "|" and depth == 0:
                branches.append("".join(current).strip())
                current = []
                continue
        current.append(ch)
    branches.append("".join(current).strip())
    return [b for b in branches if b]


_LEAD = re.compile(r"\(*\s*([A-Za-z][A-Za-z0-9]*)")


def branch_type(branch: str) -> str:
    """The identifier a branch starts with (its resource type when the expression is absolute)."""
    match = _LEAD.match(branch)
    return match.group(1) if match else ""


def branches_for(param: dict[str, Any], base: str, resource_type: str) -> list[str]:
    """The branches of ``param``'s expression that apply to ``resource_type`` (declared under ``base``)."""
    expression = param.get("expression") or ""
    if not expression:
        return []
    branches = split_union(expression)
    if base in COMMON_BASES:
        return [re.sub(rf"^(\(*\s*){base}\b", rf"\g<1>{resource_type}", b) for b in branches]
    own = [b for b in branches if branch_type(b) == base]
    if own:
        return own
    if len(param["base"]) == 1:
        # relative expression (InsurancePlan-name): anchor it on the single base type
        return [f"{base}.{b}" for b in branches if branch_type(b) not in param["base"]]
    return []


# --- reference target narrowing -------------------------------------------------------------------


class _Elements:
    """Element definitions by path, for resolving which types a reference element may target."""

    def __init__(self) -> None:
        self.by_type: dict[str, dict[str, dict[str, Any]]] = {}
        for sd in load("structure-definitions.json")["structureDefinitions"]:
            if sd["derivation"] != "specialization" and sd["kind"] != "primitive-type":
                continue
            self.by_type.setdefault(sd["type"], {e["path"]: e for e in sd["elements"]})

    def element(self, type_name: str, steps: list[str]) -> dict[str, Any] | None:
        elements = self.by_type.get(type_name)
        if elements is None or not steps:
            return None
        path = type_name
        for index, step in enumerate(steps):
            candidate = f"{path}.{step}"
            found = elements.get(candidate) or elements.get(candidate + "[x]")
            if found is None:
                return None
            ref = found.get("contentReference")
            if ref and index + 1 < len(steps):
                path = ref.lstrip("#")
                continue
            types = found.get("type") or []
            if index + 1 == len(steps):
                return found
            codes = [t["code"] for t in types]
            if len(codes) == 1 and codes[0] not in ("BackboneElement", "Element") and codes[0] in self.by_type:
                return self.element(codes[0], steps[index + 1 :])
            path = found["path"]
        return None


_WHERE_RESOLVE = re.compile(r"where\(\s*resolve\(\)\s+is\s+([A-Za-z]+)\s*\)")


def _strip_calls(branch: str) -> str | None:
    """Reduce a branch to a dotted element path, or None when it is not a plain path."""
    text = branch.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = re.sub(r"\s+as\s+[A-Za-z]+\s*\)?$", "", text)
    # drop .where(...), .as(X), .ofType(X) calls (balanced parentheses)
    out: list[str] = []
    i = 0
    while i < len(text):
        m = re.match(r"\.(where|as|ofType|exists|first|resolve)\(", text[i:])
        if m:
            depth = 0
            j = i + len(m.group(0)) - 1
            while j < len(text):
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    path = "".join(out).strip().lstrip("(").rstrip(")")
    return path if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+", path) else None


def narrow_targets(elements: _Elements, branches: Iterable[str], declared: list[str]) -> tuple[str, ...]:
    """Targets this type's branches can reach, within the declared ones; the declared set if unknown."""
    allowed = set(declared)
    reach: set[str] = set()
    for branch in branches:
        resolved = _WHERE_RESOLVE.findall(branch)
        if resolved:
            reach.update(resolved)
            continue
        path = _strip_calls(branch)
        element = elements.element(path.split(".")[0], path.split(".")[1:]) if path else None
        if element is None:
            return tuple(sorted(allowed))
        profiles = [p for t in element.get("type") or [] for p in t.get("targetProfile") or []]
        names = {p.removeprefix(SD_PREFIX) for p in profiles}
        if not names or "Resource" in names:
            return tuple(sorted(allowed))
        reach.update(names)
    narrowed = reach & allowed
    return tuple(sorted(narrowed)) if narrowed else tuple(sorted(allowed))


def describe(description: str, resource_type: str) -> str:
    """The description for one type: its own bullet of a "Multiple Resources" list, else the whole text."""
    text = description.replace("\r\n", "\n").strip()
    if text.startswith("Multiple Resources"):
        for line in text.splitlines():
            match = re.match(rf"\*\s*\[{resource_type}\]\([^)]*\):\s*(.*)", line.strip())
            if match:
                return match.group(1).strip()
    return text


# --- the table -------------------------------------------------------------------------------------


def table() -> dict[str, dict[str, tuple[Any, ...]]]:
    """resource type -> code -> the ParamDef fields, as plain tuples (deterministic)."""
    params: list[dict[str, Any]] = load("search-parameters.json")
    by_url = {p["url"]: p for p in params}
    types = r4_resource_types()
    elements = _Elements()
    result: dict[str, dict[str, tuple[Any, ...]]] = {t: {} for t in types}
    for param in params:
        for base in param["base"]:
            applies_to = types if base in COMMON_BASES else [base]
            for rtype in applies_to:
                if rtype not in result:
                    raise SystemExit(f"{param['id']}: base {base} is not an R4 resource type")
                branches = branches_for(param, base, rtype)
                if param.get("expression") and not branches:
                    raise SystemExit(f"{param['id']}: no expression branch for {rtype}")
                targets: tuple[str, ...] = ()
                if param["type"] == "reference":
                    targets = narrow_targets(elements, branches, param.get("target") or [])
                components = tuple(
                    (by_url[c["definition"]]["code"], c["expression"]) for c in param.get("component") or []
                )
                code = param["code"]
                if code in result[rtype]:
                    raise SystemExit(f"{rtype}: search parameter {code} is defined twice")
                result[rtype][code] = (
                    code,
                    param["type"],
                    " | ".join(branches),
                    targets,
                    components,
                    tuple(param.get("comparator") or ()),
                    describe(param.get("description", ""), rtype),
                    param["url"],
                )
    return result


_MODULE_DOC = '''"""Every FHIR R4 search parameter per resource type: the table the builder and the search engine share.

``SEARCH_PARAMETERS[type][code]`` is a :class:`ParamDef`. Expressions are cut to the type's own union
branches; the Resource/DomainResource parameters appear under every type; composite components name
their component parameter's code.

Split so that a lookup loads only what it needs: each resource type's parameters are a module of
this package, imported on first access to that type; the Markdown descriptions (documentation only)
are one more module, imported on first access to :attr:`ParamDef.description`.
"""'''

_PACKAGE_CODE = '''
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Final, NamedTuple

from clinikfhir._generated.resource_types import RESOURCE_TYPES


class ParamDef(NamedTuple):
    """One search parameter as it applies to one resource type."""

    code: str
    """The name used in a query, e.g. ``date``, ``_id``, ``code-value-quantity``."""
    type: str
    """number, date, string, token, reference, composite, quantity, uri or special."""
    expression: str
    """FHIRPath for this resource type only (union branches split per base); "" if none."""
    targets: tuple[str, ...]
    """Resource types a reference parameter can point at, sorted."""
    components: tuple[tuple[str, str], ...]
    """Composite: (component parameter code, FHIRPath relative to the composite expression)."""
    comparators: tuple[str, ...]
    """Prefixes the definition lists (may be empty)."""
    resource_type: str
    """The resource type this row applies to (the key of its table in SEARCH_PARAMETERS)."""
    url: str
    """Canonical URL of the SearchParameter definition."""

    @property
    def description(self) -> str:
        """The definition's description (Markdown); "" for a definition without one."""
        # Imported on first use: the descriptions are documentation, not needed to build or run a search.
        from .descriptions import DESCRIPTIONS

        return DESCRIPTIONS.get(self.resource_type, {}).get(self.code, "")


class _ByType(Mapping[str, dict[str, ParamDef]]):
    """Resource type -> its parameters, each type's module imported on first access."""

    __slots__ = ("_loaded",)

    def __init__(self) -> None:
        self._loaded: dict[str, dict[str, ParamDef]] = {}

    def __getitem__(self, rtype: str) -> dict[str, ParamDef]:
        table = self._loaded.get(rtype)
        if table is None:
            if rtype not in _TYPES:
                raise KeyError(rtype)
            module = importlib.import_module(f"{__name__}._{rtype.lower()}")
            table = self._loaded.setdefault(rtype, module.PARAMS)
        return table

    def __iter__(self) -> Iterator[str]:
        return iter(_SORTED)

    def __len__(self) -> int:
        return len(RESOURCE_TYPES)

    def __contains__(self, rtype: object) -> bool:
        return rtype in _TYPES


_TYPES: Final = RESOURCE_TYPES
_SORTED: Final = tuple(sorted(RESOURCE_TYPES))

SEARCH_PARAMETERS: Final[Mapping[str, dict[str, ParamDef]]] = _ByType()
"""Every R4 resource type (sorted) -> its search parameters by code, loaded per type on first access."""
'''


def emit() -> dict[str, str]:
    data = table()
    head = header("codegen/search_params.py", *INPUTS)
    pkg = f"{GENERATED}/search_parameters"
    out = {f"{pkg}/__init__.py": head + "\n" + _MODULE_DOC + "\n" + _PACKAGE_CODE}
    descriptions: dict[str, dict[str, str]] = {}
    for rtype in sorted(data):
        lines = [
            head,
            f'"""The search parameters of {rtype} (see the package docstring)."""',
            "",
            "from typing import Final",
            "",
            "from . import ParamDef as _P",
            "",
            "PARAMS: Final[dict[str, _P]] = {",
        ]
        for code in sorted(data[rtype]):
            code_, ptype, expression, targets, components, comparators, description, url = data[rtype][code]
            if description:
                descriptions.setdefault(rtype, {})[code] = description
            fields = (code_, ptype, expression, targets, components, comparators, rtype, url)
            lines.append(f"    {code!r}: _P{fields!r},")
        lines += ["}", ""]
        out[f"{pkg}/_{rtype.lower()}.py"] = "\n".join(lines)
    lines = [
        head,
        '"""The Markdown description of every search parameter, by resource type and code (documentation only)."""',
        "",
        "from typing import Final",
        "",
        "DESCRIPTIONS: Final[dict[str, dict[str, str]]] = {",
    ]
    for rtype in sorted(descriptions):
        lines.append(f"    {rtype!r}: {{")
        lines += [f"        {code!r}: {text!r}," for code, text in sorted(descriptions[rtype].items())]
        lines.append("    },")
    lines += ["}", ""]
    out[f"{pkg}/descriptions.py"] = "\n".join(lines)
    return out
