"""Check a search against a server's CapabilityStatement before sending it.

What is checked, per ``rest[mode=server].resource[type]``: the type is searchable
(``interaction`` ``search-type`` when interactions are listed); every parameter (and each link of a
chain, and each ``_sort`` key) is declared in the resource's or the server's ``searchParam``; its
modifier is legal for the declared parameter type; ``_include``/``_revinclude`` values are in
``searchInclude``/``searchRevInclude`` (or ``*`` is). Problems name parameters, never values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from clinikfhir.errors import InvalidArgumentError

_RESULT_PARAMS = frozenset({"_count", "_summary", "_total", "_contained", "_containedType", "_elements", "_format"})
_MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"missing", "exact", "contains"}),
    "token": frozenset({"missing", "text", "not", "above", "below", "in", "not-in", "of-type"}),
    "uri": frozenset({"missing", "above", "below"}),
    "reference": frozenset({"missing", "identifier", "above", "below"}),
}


class UnsupportedSearchError(InvalidArgumentError):
    """The server's CapabilityStatement does not support part of this search; nothing was sent."""

    def __init__(self, resource_type: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{resource_type} search not supported by the server: " + "; ".join(self.problems))


class _Caps:
    def __init__(self, capabilities: Any) -> None:
        raw: Any = capabilities
        if hasattr(capabilities, "model_dump"):
            raw = capabilities.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not isinstance(raw, dict):
            raise InvalidArgumentError("capability check: expected a CapabilityStatement (model or JSON dict)")
        data = cast("dict[str, Any]", raw)
        if data.get("resourceType", "CapabilityStatement") != "CapabilityStatement":
            raise InvalidArgumentError("capability check: expected a CapabilityStatement (model or JSON dict)")
        self.resources: dict[str, dict[str, Any]] = {}
        self.common: dict[str, str] = {}
        for rest in cast("list[dict[str, Any]]", data.get("rest") or []):
            if rest.get("mode", "server") != "server":
                continue
            for sp in cast("list[dict[str, Any]]", rest.get("searchParam") or []):
                self.common[str(sp.get("name"))] = str(sp.get("type", ""))
            for res in cast("list[dict[str, Any]]", rest.get("resource") or []):
                self.resources[str(res.get("type"))] = res

    def searchable(self, rtype: str) -> bool:
        res = self.resources.get(rtype)
        if res is None:
            return False
        interactions = [str(i.get("code")) for i in cast("list[dict[str, Any]]", res.get("interaction") or [])]
        return not interactions or "search-type" in interactions

    def param_type(self, rtype: str, code: str) -> str | None:
        res = self.resources.get(rtype) or {}
        for sp in cast("list[dict[str, Any]]", res.get("searchParam") or []):
            if sp.get("name") == code:
                return str(sp.get("type", ""))
        return self.common.get(code)

    def listed(self, rtype: str, field: str, value: str) -> bool:
        values = [str(v) for v in cast("list[Any]", (self.resources.get(rtype) or {}).get(field) or [])]
        return "*" in values or value in values


def _table_targets(rtype: str, code: str) -> tuple[str, ...]:
    from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

    param = SEARCH_PARAMETERS.get(rtype, {}).get(code)
    return param.targets if param is not None else ()


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
        targets = [modifier] if modifier else list(_table_targets(rtype, code))
        if not targets:
            problems.append(f"{full}: {rtype}.{code} cannot be chained")
        for target in targets:
            if len(targets) == 1 or caps.searchable(target):
                _check_name(caps, target, chained, problems, full)
        return
    if modifier and modifier not in _MODIFIERS.get(ptype, frozenset({"missing"})):
        is_type_modifier = ptype == "reference" and modifier[:1].isupper()
        if not is_type_modifier:
            problems.append(f"{full}: the modifier :{modifier} is not defined for {ptype} parameters")


def problems_for(capabilities: Any, rtype: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Every part of the search ``pairs`` on ``rtype`` that ``capabilities`` does not support."""
    caps = _Caps(capabilities)
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
            field = "searchInclude" if base == "_include" else "searchRevInclude"
            if not caps.listed(rtype, field, value):
                problems.append(f"{name}={value}: not in the server's {field}")
        elif base == "_list":
            if caps.param_type(rtype, "_list") is None:
                problems.append(f"{rtype} does not support the parameter _list")
        else:
            _check_name(caps, rtype, name, problems, name)
    return problems
