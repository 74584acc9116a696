"""Emit the typed query classes (one module per resource type), the reference/chain classes and the
client mixin whose ``search(Model)`` overloads return the right query class.

Output under ``clinikfhir/_generated/search_queries/``: ``<type>.py`` with ``<Type>Params`` (the
parameters, generic in what their setters return) and ``<Type>Query``; ``_refs/`` with one module per
distinct set of reference targets (a property per target chains to its parameters); and
``__init__.py`` with the lazy index. ``clinikfhir/_generated/search_mixin.py`` holds ``SearchMixin``.

Python names for parameter codes (documented in ``clinikfhir.search``): ``-`` becomes ``_``;
camelCase becomes snake_case; a leading ``_`` moves to the end (``_id`` -> ``id_``,
``_lastUpdated`` -> ``last_updated_``); keywords and builder method names get a trailing ``_``
(``class`` -> ``class_``).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Any

from clinikfhir.search._names import python_name

from ._common import GENERATED, header
from .search_params import INPUTS, table

PKG = f"{GENERATED}/search_queries"
HEAD = header("codegen/search_queries.py", *INPUTS)

KIND_ARG = {
    "token": "TokenArg",
    "quantity": "QuantityArg",
    "number": "NumberArg",
    "date": "DateArg",
    "string": "StringArg",
    "uri": "StringArg",
    "reference": "ReferenceArg",
}

KIND_CLASS = {
    "number": "NumberParam",
    "date": "DateParam",
    "string": "StringParam",
    "token": "TokenParam",
    "quantity": "QuantityParam",
    "uri": "UriParam",
    "special": "SpecialParam",
}


def py_name(code: str) -> str:
    """The Python member name for a search parameter code (shared with the runtime)."""
    return python_name(code)


def module_name(rtype: str) -> str:
    return rtype.lower()


def ref_class(targets: tuple[str, ...]) -> str:
    """The shared base class of the reference parameters pointing at ``targets``, named after them
    (``RefDeviceGroupLocationPatient``), ``RefAnyResource`` for every type, or else after the first
    parameter using it (``RefObservationPerformerTargets``): readable and stable, never a hash."""
    if len(targets) <= 4:
        return "Ref" + "".join(targets)
    if set(_all_targets()) - set(targets) <= {"Parameters"}:  # Parameters is never a reference target
        return "RefAnyResource"
    first = min((rtype, code) for rtype, params in table().items() for code, p in params.items() if p[3] == targets)
    return f"Ref{first[0]}{_camel(py_name(first[1]))}Targets"


def param_ref_class(rtype: str, code: str) -> str:
    """What users see for a reference parameter: ``ObservationSubjectRef`` (``Observation.subject``)."""
    return f"{rtype}{_camel(py_name(code))}Ref"


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


@functools.cache
def _all_targets() -> tuple[str, ...]:
    from .resource_types import r4_resource_types

    return tuple(sorted(r4_resource_types()))


def _doc(text: str, indent: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    lines = [line.rstrip() for line in text.splitlines()] or [""]
    if lines[-1].endswith('"'):
        lines[-1] += " "
    body = "\n".join((indent + line) if line else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}' + (f"\n{body}" if body else "") + f'\n{indent}"""'


def _is_identifier(expression: str) -> bool:
    branches = [b.strip() for b in expression.split("|") if b.strip()]
    return bool(branches) and all(re.search(r"\.identifier\)?$", b) for b in branches)


def _lit(values: list[str]) -> str:
    return "Literal[" + ", ".join(repr(v) for v in values) + "]"


def emit_type(
    rtype: str, params: dict[str, tuple[Any, ...]], data: dict[str, dict[str, tuple[Any, ...]]], r4_only: bool
) -> str:
    names: dict[str, str] = {}
    for code in sorted(params):
        name = py_name(code)
        if name in names.values():
            raise SystemExit(f"{rtype}: two search parameters map to the Python name {name}")
        names[code] = name
    model = "GenericResource" if r4_only else rtype
    composites = [c for c in params if params[c][1] == "composite"]
    composite_classes = sorted({f"Composite{len(params[c][4])}" for c in composites})
    composite_args = sorted(
        {KIND_ARG[_component_kind(rtype, comp, data)] for c in composites for comp, _e in params[c][4]}
    )
    kinds_used = sorted(
        {KIND_CLASS[params[c][1]] for c in params if params[c][1] not in ("reference", "composite")}
        | set(composite_classes)
        | (
            {"IdentifierParam"}
            if any(params[c][1] == "token" and _is_identifier(params[c][2]) for c in params)
            else set()
        )
    )
    refs = sorted({ref_class(params[c][3]) for c in params if params[c][1] == "reference"})
    ref_codes = sorted(c for c in params if params[c][1] == "reference")
    sort_keys = [k for c in sorted(params) if params[c][1] not in ("composite", "special") for k in (c, "-" + c)]
    revincludes = sorted(
        f"{src}:{code}" for src, sps in data.items() for code, p in sps.items() if p[1] == "reference" and rtype in p[3]
    )
    has_via = sorted({r.split(":", 1)[1] for r in revincludes})
    out = [
        HEAD,
        f'"""Typed search on {rtype}: ``{rtype}Params`` (its search parameters) and ``{rtype}Query``."""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING, Literal",
        "",
        "from typing_extensions import Self, TypeVar",
        "",
        f"from clinikfhir.search._params import {', '.join(['Params', *kinds_used])}",
        "from clinikfhir.search._query import Query",
        "",
    ]
    if refs:
        out += [*(f"from ._refs.{r.lower()} import {r}" for r in refs), ""]
    out += [
        "if TYPE_CHECKING:",
        *(["    from collections.abc import Callable", ""] if has_via else []),
        f"    from clinikfhir.models import {model}",
        f"    from clinikfhir.search._params import {'Root, SortBy' if has_via else 'SortBy'}",
        *([f"    from clinikfhir.search._params import {', '.join(composite_args)}"] if composite_args else []),
        "",
        '_Q = TypeVar("_Q")',
        '_E = TypeVar("_E", default=None, covariant=True)',
        *(['_P = TypeVar("_P")'] if has_via else []),
        "",
        f"{rtype}SortKey = {_lit(sort_keys)}",
        f'"""A ``_sort`` key of {rtype}: a parameter code, ``-`` first for descending."""',
        "",
    ]
    if ref_codes:
        include_targets = sorted({t for c in ref_codes for t in params[c][3]})
        out += [f"{rtype}Include = {_lit(ref_codes)}", f'"""A reference parameter of {rtype} for ``_include``."""', ""]
        out += [
            f"{rtype}IncludeTarget = {_lit(include_targets)}",
            f'"""A type the reference parameters of {rtype} can point at (``_include=...:param:Type``)."""',
            "",
        ]
    if revincludes:
        out += [
            f"{rtype}RevInclude = {_lit(revincludes)}",
            f'"""``Type:param`` pairs that can point at a {rtype}, for ``_revinclude``."""',
            "",
            f"{rtype}HasVia = {_lit(has_via)}",
            f'"""Reference parameters (of any type) that can point at a {rtype}: the links of ``has``."""',
            "",
        ]
    ref_names: set[str] = set()
    for code in ref_codes:
        cls, targets = param_ref_class(rtype, code), params[code][3]
        if cls in ref_names:
            raise SystemExit(f"{rtype}: two reference parameters map to the class name {cls}")
        ref_names.add(cls)
        listed = ", ".join(targets) if len(targets) < 8 else f"any of {len(targets)} types"
        out += [
            "",
            f"class {cls}({ref_class(targets)}[_Q]):",
            f'    """``{code}`` of {rtype}: a reference to {listed}."""',
            "",
            "    __slots__ = ()",
            "",
        ]
    out += [
        "",
        f"class {rtype}Params(Params[_Q]):",
        f'    """The search parameters of {rtype}; each setter returns ``_Q`` (the query they started from)."""',
        "",
        "    __slots__ = ()",
        f"    resource_type = {rtype!r}",
    ]
    members: list[tuple[str, str, str, str]] = []  # (name, type, docstring, constructor)
    for code in sorted(params):
        _code, ptype, expression, targets, components, _cmp, description, _url = params[code]
        name = names[code]
        if ptype == "reference":
            cls = param_ref_class(rtype, code)
            ctor = f"{cls}(self, {code!r})"
        elif ptype == "composite":
            kinds = tuple(_component_kind(rtype, comp, data) for comp, _expr in components)
            base = f"Composite{len(kinds)}"
            cls = f"{base}[_Q, {', '.join(KIND_ARG[k] for k in kinds)}]"
            ctor = f"{base}(self, {code!r}, {kinds!r})"
        else:
            cls = "IdentifierParam" if ptype == "token" and _is_identifier(expression) else KIND_CLASS[ptype]
            ctor = f"{cls}(self, {code!r})"
        doc = f"{description}\n\n``{code}`` ({ptype})"
        if expression:
            doc += f": ``{expression}``"
        if components:
            doc += "\n\nComponents: " + ", ".join(f"``{c}`` (``{e}``)" for c, e in components)
        if targets:
            doc += "\n\nTargets: " + ", ".join(targets)
        members.append((name, cls if "[" in cls else cls + "[_Q]", doc, f"return {ctor}"))
    out += _members(members)
    out += [
        "",
        "",
        f'class {rtype}Query(Query["{model}", _E], {rtype}Params["{rtype}Query[_E]"]):',
        f'    """A search on {rtype}; every method returns a new query."""',
        "",
        f"    resource_type = {rtype!r}",
        "",
        f'    def sort(self, *keys: {rtype}SortKey | SortBy["{rtype}Query[_E]"]) -> Self:',
        '        """``_sort``: by these keys in order: ``q.sort(q.date.desc(), q.status)`` or wire codes'
        ' (``"-date"``).'
        '"""',
        "        return self._sort(keys)",
    ]
    if has_via:
        out += [
            "",
            f"    def has(self, source: Callable[[Root[Self], str], _P], via: {rtype}HasVia) -> _P:",
            f'        """``_has``: {rtype}s that resources of another type point at through ``via``:'
            ' ``has(ObservationParams, "subject").code("1234-5")``."""',
            "        return self._has(source, via)",
        ]
    if ref_codes:
        out += [
            "",
            f"    def include(self, param: {rtype}Include, target: {rtype}IncludeTarget | None = None, *,"
            " iterate: bool = False)"
            " -> Self:",
            f'        """``_include={rtype}:param[:target]``: add what ``param`` points at (``:iterate`` recurses)."""',
            '        return self._include("_include", self._include_value(param, target), iterate)',
        ]
    if revincludes:
        out += [
            "",
            f"    def revinclude(self, source: {rtype}RevInclude, *, iterate: bool = False) -> Self:",
            '        """``_revinclude=Type:param``: add the resources of another type that point at these."""',
            '        return self._include("_revinclude", source, iterate)',
        ]
    out += [""]
    return "\n".join(out)


def _members(members: list[tuple[str, str, str, str]]) -> list[str]:
    """Class-body lines for members that are annotated attributes to type checkers and editors and
    properties at run time: ``(name, type, docstring, property body)`` each.

    To list the members after ``q.``, pyright evaluates the return type of every decorated method (to
    tell a property from a method), and it does so again after each edit of the open file; a
    ``<Type>Params`` class has up to ~100 of them. An annotated attribute is listed from its
    declaration alone. The run-time properties are unreachable for the checkers;
    tests/typing/test_search_members.py checks that each returns the declared class.
    """
    if not members:
        return []
    out = [
        "",
        "    if TYPE_CHECKING:",
        "        # For type checkers and editors: listed without evaluating a type (see codegen/search_queries.py).",
    ]
    for name, annotation, doc, _body in members:
        out += [f"        {name}: {annotation}", _member_doc_lines(doc, "        ")]
    out += ["", "    else:"]
    for name, annotation, doc, body in members:
        out += [
            "",
            "        @property",
            f"        def {name}(self) -> {annotation}:",
            _member_doc_lines(doc, "            "),
            *(f"            {line}" if line else "" for line in body.splitlines()),
        ]
    return out


def _member_doc_lines(doc: str, indent: str) -> str:
    return f'{indent}"""{doc}"""' if "\n" not in doc and '"' not in doc else _doc(doc, indent)


def _component_kind(rtype: str, code: str, data: dict[str, dict[str, tuple[Any, ...]]]) -> str:
    if code in data[rtype]:
        return str(data[rtype][code][1])
    for params in data.values():
        if code in params:
            return str(params[code][1])
    raise SystemExit(f"{rtype}: composite component {code} is not a known search parameter")


def emit_refs(data: dict[str, dict[str, tuple[Any, ...]]]) -> dict[str, str]:
    """One module per reference class, so a query class loads only the reference classes it uses."""
    target_sets = sorted({p[3] for params in data.values() for p in params.values() if p[1] == "reference"})
    files = {
        f"{PKG}/_refs/__init__.py": HEAD
        + '"""Reference parameters by target set, one module each (imported by the query modules)."""\n'
    }
    for targets in target_sets:
        cls = ref_class(targets)
        out = [
            HEAD,
            f'"""``{cls}``: a reference parameter with its ``typed(...)`` and one chaining property per target."""',
            "",
            "from __future__ import annotations",
            "",
            *(["from typing import TYPE_CHECKING, Literal", ""] if targets else []),
            "from typing_extensions import TypeVar",
            "",
            "from clinikfhir.search._params import ReferenceParam",
            "",
        ]
        if targets:
            out += ["if TYPE_CHECKING:", *(f"    from ..{module_name(t)} import {t}Params" for t in targets), ""]
        out += [
            '_Q = TypeVar("_Q")',
            "",
            "",
            f"class {cls}(ReferenceParam[_Q]):",
            f'    """A reference to {", ".join(targets) if len(targets) < 8 else f"any of {len(targets)} types"}."""',
            "",
            "    __slots__ = ()",
            f"    _targets = {targets!r}",
        ]
        if targets:
            out += [
                "",
                f"    def typed(self, target: {_lit(list(targets))}, *ids: str) -> _Q:",
                '        """``param:Type=id``: only references to ``target`` with these ids."""',
                "        return self._typed(target, ids)",
            ]
        out += _members(
            [
                (
                    t,
                    f"{t}Params[_Q]",
                    f"Chain to {t}'s search parameters (``param:{t}.name=...``).",
                    f"from ..{module_name(t)} import {t}Params\n\nreturn {t}Params(*self._chain({t!r}))",
                )
                for t in targets
            ]
        )
        out.append("")
        files[f"{PKG}/_refs/{cls.lower()}.py"] = "\n".join(out)
    return files


def emit_index(types: list[str], r4_only: set[str]) -> str:
    out = [
        HEAD,
        '"""Index of the generated query classes; each module is imported only when first used."""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING, Final",
        "",
        "if TYPE_CHECKING:",
    ]
    for t in types:
        out.append(f"    from .{module_name(t)} import {t}Params as {t}Params")
        out.append(f"    from .{module_name(t)} import {t}Query as {t}Query")
    out += [
        "",
        "__all__ = [",
        *(f"    {t + suffix!r}," for t in types for suffix in ("Params", "Query")),
        "]",
        "",
        "QUERY_MODULES: Final[dict[str, str]] = {",
        *(f"    {t!r}: {('clinikfhir._generated.search_queries.' + module_name(t))!r}," for t in types),
        "}",
        '"""Resource type -> the module defining ``<Type>Query`` and ``<Type>Params``."""',
        "",
    ]
    return "\n".join(out)


def emit_mixin(types: list[str], r4_only: set[str]) -> str:
    """``Search`` (one member per resource type, plus the ``search(Model)`` overloads) and the
    ``SearchMixin`` that gives a client its ``search`` attribute.

    The members are what editors complete (``clinik.search.`` then ``Observation.``): plain attribute
    lookups, no overload resolution. For type checkers each member is an annotated attribute
    (``Observation: ObservationQuery[_C]``), not a property: to list ``clinik.search.`` pyright
    evaluates the type of every decorated method to tell a property from a method, and a property
    returning ``ObservationQuery[_C]`` makes it evaluate all 146 query classes (and, through their
    ``Query[Model, ...]`` bases, the model classes) on each keystroke; an attribute is listed from its
    declaration alone. At run time each member is a property (added by ``_query_property`` below),
    which imports the query module on first use.
    """
    out = [
        HEAD,
        '"""``clinik.search``: ``clinik.search.Observation`` (one property per R4 resource type, the fast form for',
        "editors) or ``clinik.search(Observation)``, the type's query class bound to the client.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING, Any, Generic, Literal, overload",
        "",
        "from typing_extensions import Self, TypeVar",
        "",
        "from clinikfhir._generated.resource_types import R4_ONLY_TYPES",
        "from clinikfhir._generated.search_queries import QUERY_MODULES",
        "from clinikfhir.search._query import ParamsArg, Query",
        "",
        "if TYPE_CHECKING:",
        "    from clinikfhir.models import Resource",
        "",
        # aliased: inside ``Search`` the bare type names are its properties
        *(f"    from clinikfhir.models import {t} as _{t}" for t in types if t not in r4_only),
        *(f"    from clinikfhir._generated.search_queries.{module_name(t)} import {t}Query" for t in types),
        "",
        '_R = TypeVar("_R", bound="Resource")',
        '_C = TypeVar("_C")',
        "",
        "",
        "class Search(Generic[_C]):",
        '    """The searches of one client: ``clinik.search.Observation.code("8867-4").get()``.',
        "",
        "    One property per R4 resource type returns that type's query bound to the client; calling",
        '    ``clinik.search(Observation)`` (or ``clinik.search("MedicinalProduct")``) does the same.',
        '    """',
        "",
        '    __slots__ = ("_client",)',
        "",
        "    def __init__(self, client: _C) -> None:",
        "        self._client = client",
        "",
        "    def __repr__(self) -> str:",
        '        return f"<search on {type(self._client).__name__}>"',
        "",
        "    if TYPE_CHECKING:",
        "        # Attributes for type checkers and editors, properties at run time (``_query_property``):",
        "        # pyright lists attributes without evaluating their types, so ``clinik.search.`` stays fast.",
    ]
    for t in types:
        out += [f"        {t}: {t}Query[_C]", f'        """{_member_doc(t, r4_only)}"""']
    for t in types:
        arg = f'Literal["{t}"]' if t in r4_only else f'type[_{t}] | Literal["{t}"]'
        out += [
            "",
            "    @overload",
            f"    def __call__(self, model: {arg}, params: ParamsArg | None = None) -> {t}Query[_C]: ...",
        ]
    out += [
        "",
        "    @overload",
        "    def __call__(self, model: type[_R], params: ParamsArg | None = None) -> Query[_R, _C]: ...",
        "",
        "    def __call__(self, model: Any, params: ParamsArg | None = None) -> Any:",
        '        """A typed search on ``model`` (a model class, or a type name for the R4-only types), bound to',
        '        the client: ``clinik.search(Observation).code("8867-4").get()``. ``params`` adds raw pairs.',
        "",
        "        ``clinik.search.Observation`` is the same query, and what editors complete fastest.",
        '        """',
        "        from clinikfhir.search import query_class",
        "",
        "        return query_class(model)(self._client, params)",
        "",
        "",
        "def _query_property(rtype: str) -> property:",
        '    """The run-time ``Search.<rtype>``: its query (module imported on first use), bound to the client."""',
        "",
        "    def bound_query(self: Search[Any]) -> Query[Any, Any]:",
        "        from clinikfhir.search import query_class",
        "",
        "        # a property of Search, only defined outside its body",
        "        return query_class(rtype)(self._client)  # pyright: ignore[reportPrivateUsage]",
        "",
        '    what = f"{rtype} (an R4-only type, read as ``GenericResource``)" if rtype in R4_ONLY_TYPES else rtype',
        "    bound_query.__name__ = bound_query.__qualname__ = rtype",
        '    return property(bound_query, doc=f"A search on {what}, bound to this client.")',
        "",
        "",
        "for _rtype in QUERY_MODULES:",
        "    setattr(Search, _rtype, _query_property(_rtype))",
        "",
        "",
        "class SearchMixin:",
        '    """Gives a client ``search``: ``clinik.search.Observation`` or ``clinik.search(Observation)``."""',
        "",
        "    __slots__ = ()",
        "",
        "    @property",
        "    def search(self) -> Search[Self]:",
        '        """Typed searches bound to this client: ``clinik.search.Observation.code("8867-4").get()``."""',
        "        return Search(self)",
        "",
    ]
    return "\n".join(out)


def _member_doc(rtype: str, r4_only: set[str]) -> str:
    what = f"{rtype} (an R4-only type, read as ``GenericResource``)" if rtype in r4_only else rtype
    return f"A search on {what}, bound to this client."


def emit() -> dict[str, str]:
    from .resource_types import r4_resource_types

    data = table()
    types = r4_resource_types()
    r4_only = {t for t in types if importlib.util.find_spec(f"fhir.resources.R4B.{t.lower()}") is None}
    files = {f"{PKG}/{module_name(t)}.py": emit_type(t, data[t], data, t in r4_only) for t in types}
    files.update(emit_refs(data))
    files[f"{PKG}/__init__.py"] = emit_index(types, r4_only)
    files[f"{GENERATED}/search_mixin.py"] = emit_mixin(types, r4_only)
    return files
