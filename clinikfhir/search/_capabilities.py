"""Check a search against a server's CapabilityStatement before sending it.

What is checked, per ``rest[mode=server].resource[type]``: the type is searchable
(``interaction`` ``search-type`` when interactions are listed); every parameter (and each link of a
chain, and each ``_sort`` key) is declared in the resource's or the server's ``searchParam``; its
modifier is legal for the declared parameter type; ``_include``/``_revinclude`` values are in
``searchInclude``/``searchRevInclude``. Problems name parameters, never values.

R4 has no element for the modifiers a server accepts on each parameter. A statement that lists
them uses two extensions (the sandbox does): :data:`MODIFIER_EXTENSION` on a ``searchParam``, one
``valueCode`` per accepted modifier (``type`` for a reference's ``:Type`` modifiers, R5's code), and
:data:`MODIFIERS_LISTED_EXTENSION` (``valueBoolean`` true) on ``rest`` saying every parameter lists
its modifiers this way, none listed meaning none accepted. Without them, any modifier the R4 search
specification defines for the parameter's type is taken as supported.

Includes: ``*`` in ``searchInclude``/``searchRevInclude`` is the value ``*`` (``_include=*``); a
list holding only ``*`` is read as "any include" (statements written that way exist). Values are
also checked against the R4 definitions: ``Type:param[:Target]`` with ``param`` a reference
parameter of ``Type`` that can point at ``Target``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any, cast

from clinikfhir._wire import MODIFIER_EXTENSION, MODIFIERS_LISTED_EXTENSION
from clinikfhir.errors import InvalidArgumentError

_RESULT_PARAMS = frozenset({"_count", "_summary", "_total", "_contained", "_containedType", "_elements", "_format"})
_MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"missing", "exact", "contains"}),
    "token": frozenset({"missing", "text", "not", "above", "below", "in", "not-in", "of-type"}),
    "uri": frozenset({"missing", "above", "below"}),
    "reference": frozenset({"missing", "identifier", "above", "below"}),
}


class _Caps:
    """A CapabilityStatement indexed for lookups; each resource type's entry is indexed on first use."""

    __slots__ = ("__weakref__", "common_params", "lists", "modifiers_listed", "params", "resources")

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("resourceType", "CapabilityStatement") != "CapabilityStatement":
            raise InvalidArgumentError("capability check: expected a CapabilityStatement (model or JSON dict)")
        self.resources: dict[str, dict[str, Any]] = {}
        self.params: dict[str, dict[str, dict[str, Any]]] = {}
        self.common_params: dict[str, dict[str, Any]] = {}
        # (type, "searchInclude" | "searchRevInclude") -> (the values, whether the list is only "*")
        self.lists: dict[tuple[str, str], tuple[frozenset[str], bool]] = {}
        self.modifiers_listed = False
        for rest in cast("list[dict[str, Any]]", data.get("rest") or []):
            if rest.get("mode", "server") != "server":
                continue
            for ext in cast("list[dict[str, Any]]", rest.get("extension") or []):
                if ext.get("url") == MODIFIERS_LISTED_EXTENSION and ext.get("valueBoolean") is True:
                    self.modifiers_listed = True
            for sp in cast("list[dict[str, Any]]", rest.get("searchParam") or []):
                self.common_params[str(sp.get("name"))] = sp
            for res in cast("list[dict[str, Any]]", rest.get("resource") or []):
                self.resources[str(res.get("type"))] = res

    def searchable(self, rtype: str) -> bool:
        res = self.resources.get(rtype)
        if res is None:
            return False
        interactions = [str(i.get("code")) for i in cast("list[dict[str, Any]]", res.get("interaction") or [])]
        return not interactions or "search-type" in interactions

    def _param(self, rtype: str, code: str) -> dict[str, Any] | None:
        params = self.params.get(rtype)
        if params is None:
            params = self.params[rtype] = {}
            res = self.resources.get(rtype) or {}
            for sp in cast("list[dict[str, Any]]", res.get("searchParam") or []):
                params.setdefault(str(sp.get("name")), sp)
        found = params.get(code)
        return found if found is not None else self.common_params.get(code)

    def param_type(self, rtype: str, code: str) -> str | None:
        sp = self._param(rtype, code)
        return None if sp is None else str(sp.get("type", ""))

    def modifiers(self, rtype: str, code: str) -> frozenset[str] | None:
        """The modifiers the statement lists for the parameter, or None when it does not list them."""
        sp = self._param(rtype, code)
        if sp is None:
            return None
        exts = [
            e for e in cast("list[dict[str, Any]]", sp.get("extension") or []) if e.get("url") == MODIFIER_EXTENSION
        ]
        if not exts and not self.modifiers_listed:
            return None
        return frozenset(str(e.get("valueCode")) for e in exts)

    def listed(self, rtype: str, field: str, value: str) -> bool:
        found = self.lists.get((rtype, field))
        if found is None:
            values = [str(v) for v in cast("list[Any]", (self.resources.get(rtype) or {}).get(field) or [])]
            found = self.lists[rtype, field] = (frozenset(values), values == ["*"])
        return found[1] or value in found[0]


# One index per statement object, dropped with it. Statements are pydantic models (unhashable, so
# no WeakKeyDictionary): keyed by id, each entry holding a weak reference that removes it on collection.
_INDEXES: dict[int, tuple[weakref.ref[Any], _Caps]] = {}
_INDEX_LOCK = threading.Lock()


def _indexed(capabilities: Any) -> _Caps:
    """The index of ``capabilities``: built once per statement model, anew for a JSON dict.

    A model is indexed on its first check; a model changed after that keeps its first index (fetch
    a new statement rather than editing one: ``capabilities(refresh=True)``).
    """
    if isinstance(capabilities, dict):
        return _Caps(cast("dict[str, Any]", capabilities))
    key = id(capabilities)
    found = _INDEXES.get(key)
    if found is not None and found[0]() is capabilities:
        return found[1]
    if not hasattr(capabilities, "model_dump"):
        raise InvalidArgumentError("capability check: expected a CapabilityStatement (model or JSON dict)")
    from clinikfhir.models import decode, dump_bytes

    try:
        data = decode(dump_bytes(capabilities))  # the lossless writer: far cheaper than model_dump
    except TypeError:  # not a FHIR model
        raise InvalidArgumentError("capability check: expected a CapabilityStatement (model or JSON dict)") from None
    if not isinstance(data, dict):  # pragma: no cover - a model always dumps to an object
        raise InvalidArgumentError("capability check: expected a CapabilityStatement (model or JSON dict)")
    caps = _Caps(cast("dict[str, Any]", data))

    def forget(_: weakref.ref[Any]) -> None:
        with _INDEX_LOCK:
            entry = _INDEXES.get(key)
            if entry is not None and entry[1] is caps:
                del _INDEXES[key]

    with _INDEX_LOCK:
        _INDEXES[key] = (weakref.ref(capabilities, forget), caps)
    return caps


def _table_targets(rtype: str, code: str) -> tuple[str, ...]:
    from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

    param = SEARCH_PARAMETERS.get(rtype, {}).get(code)
    return param.targets if param is not None else ()


def _modifier_problem(caps: _Caps, rtype: str, code: str, ptype: str, modifier: str, full: str) -> str | None:
    declared = caps.modifiers(rtype, code)
    is_type = ptype == "reference" and modifier[:1].isupper()
    if is_type:
        targets = _table_targets(rtype, code)
        if targets and modifier not in targets:
            return f"{full}: {rtype}.{code} cannot point at a {modifier}"
        if declared is None or "type" in declared:
            return None
    elif declared is not None and modifier in declared:
        return None
    elif modifier not in _MODIFIERS.get(ptype, frozenset({"missing"})):
        return f"{full}: the modifier :{modifier} is not defined for {ptype} parameters"
    if declared is not None:
        return f"{full}: the server does not support the modifier :{modifier} on {rtype}.{code}"
    return None


def _include_problem(caps: _Caps, rtype: str, name: str, value: str) -> str | None:
    """Check one ``_include``/``_revinclude`` value (``:iterate`` allowed) against the statement."""
    from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

    base, _, modifier = name.partition(":")
    reverse = base == "_revinclude"
    field = "searchRevInclude" if reverse else "searchInclude"
    if modifier not in ("", "iterate", "recurse"):
        return f"{name}: unknown modifier on {base}"
    if value != "*":
        parts = value.split(":")
        param = SEARCH_PARAMETERS.get(parts[0], {}).get(parts[1]) if len(parts) in (2, 3) else None
        if param is None or param.type != "reference":
            return f"{name}: expected Type:param[:Target] naming a reference search parameter"
        if len(parts) == 3 and parts[2] not in param.targets:
            return f"{name}: {parts[0]}.{parts[1]} cannot point at a {parts[2]}"
        if not reverse and parts[0] != rtype and not modifier:
            return f"{name}: {parts[0]}:{parts[1]} does not start from {rtype} (use :iterate)"
        if reverse and not modifier and len(parts) == 3 and parts[2] != rtype:
            return f"{name}: {parts[0]}:{parts[1]}:{parts[2]} does not point at {rtype} (use :iterate)"
        if not reverse and modifier:  # iterate: the source type's own includes
            rtype = parts[0]
        value = f"{parts[0]}:{parts[1]}"
        if reverse and modifier:
            targets = [parts[2]] if len(parts) == 3 else list(param.targets)
            if any(caps.listed(t, field, value) for t in targets):
                return None
            return f"{name}={value}: not in the server's {field}"
    if caps.listed(rtype, field, value):
        return None
    return f"{name}={value}: not in the server's {field}"


def _check_name(caps: _Caps, rtype: str, name: str, problems: list[str], full: str) -> None:
    """Check ``code[:modifier][.chained...]`` on ``rtype``."""
    if name.startswith("_has:"):
        parts = name.split(":", 3)
        if len(parts) < 4:
            problems.append(f"{full}: malformed _has")
            return
        _, source, via, rest = parts
        if not caps.searchable(source):
            problems.append(f"{full}: {source} is not searchable")
            return
        if caps.param_type(source, via) is None:
            problems.append(f"{full}: {source} does not support the parameter {via}")
        _check_name(caps, source, rest, problems, full)
        return
    head, _, chained = name.partition(".")
    code, _, modifier = head.partition(":")
    ptype = caps.param_type(rtype, code)
    if ptype is None:
        problems.append(f"{full}: {rtype} does not support the parameter {code}")
        return
    if chained:
        if modifier:
            problem = _modifier_problem(caps, rtype, code, ptype, modifier, full)
            if problem is not None:
                problems.append(problem)
                return
        targets = [modifier] if modifier else list(_table_targets(rtype, code))
        if not targets:
            problems.append(f"{full}: {rtype}.{code} cannot be chained")
        for target in targets:
            if len(targets) == 1 or caps.searchable(target):
                _check_name(caps, target, chained, problems, full)
        return
    if modifier:
        problem = _modifier_problem(caps, rtype, code, ptype, modifier, full)
        if problem is not None:
            problems.append(problem)


def problems_for(capabilities: Any, rtype: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Every part of the search ``pairs`` on ``rtype`` that ``capabilities`` does not support."""
    caps = _indexed(capabilities)
    if not caps.searchable(rtype):
        return [f"the server does not support searching {rtype}"]
    problems: list[str] = []
    for name, value in pairs:
        base = name.split(":")[0]
        if base in _RESULT_PARAMS:
            continue
        if base == "_sort":
            for key in value.split(","):
                _check_name(caps, rtype, key.lstrip("-"), problems, f"_sort key {key.lstrip('-')}")
        elif base in ("_include", "_revinclude"):
            problem = _include_problem(caps, rtype, name, value)
            if problem is not None:
                problems.append(problem)
        elif base == "_list":
            if caps.param_type(rtype, "_list") is None:
                problems.append(f"{rtype} does not support the parameter _list")
        else:
            _check_name(caps, rtype, name, problems, name)
    return problems
