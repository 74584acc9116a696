"""Compile FHIR R4 search parameters into SQL over the index tables and run them, tenant-scoped.

Every condition is an ``id IN (subquery)`` over a typed index table whose rows carry env and
tenant; chains and ``_has`` nest the same construction on the target type, so each level is
filtered to the caller's env and tenant.
"""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef
from clinikfhir._syntax import (
    RESULT_PARAMETERS as R4_RESULT_PARAMETERS,
)
from clinikfhir._syntax import (
    Link,
    SearchSyntaxError,
    parse_name,
    split_unescaped,
    tenant_tag_refusal,
    unescape,
)

from ._index import local_reference
from ._model import SearchError, SearchResult
from ._schema import TABLES
from ._snapshots import MAX_IDS, SNAPSHOTS, SnapshotKey
from ._values import date_range, decimal_value, normalise, precision_range

_KM_PER_DEGREE = 111.195  # mean Earth radius 6371.0 km * pi / 180
_DISTANCE_UNITS = {"km": 1.0, "m": 0.001, "mi": 1.609344, "[mi_i]": 1.609344}
TEXT_PARAMS = frozenset({"_content", "_text"})  # full-text parameters (no FHIRPath expression)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_PREFIXED_KINDS = frozenset({"date", "number", "quantity"})

# Modifiers implemented per parameter kind (reference also takes any resource type as ``:Type``).
MODIFIERS: dict[str, tuple[str, ...]] = {
    "token": ("missing", "not", "text", "in", "not-in", "of-type"),
    "string": ("missing", "exact", "contains"),
    "date": ("missing",),
    "number": ("missing",),
    "quantity": ("missing",),
    "reference": ("missing", "identifier"),
    "uri": ("missing", "above", "below"),
    "composite": ("missing",),
}
# ``_id`` is the resource's own id, a system-less code with no text: ``:text`` matches nothing,
# ``:in``/``:not-in`` test it against the value set's codes; ``:of-type`` does not apply.
ID_MODIFIERS = ("missing", "not", "text", "in", "not-in")
# Result parameters the engine itself handles (``_count`` and the page token are the caller's).
RESULT_PARAMETERS = ("_sort", "_total", "_summary", "_elements", "_include", "_revinclude")
_IGNORED = frozenset({"_format", "_pretty"})
_ELEMENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")
_TOP = "\U0010ffff"
_MAX_INCLUDE_ROUNDS = 8
MAX_DEPTH = 8  # levels of chaining / _has in one parameter
MAX_TERMS = 100  # AND-ed parameters in one search
MAX_OR_VALUES = 500  # comma-separated values of one parameter (SQLite's expression depth is 1,000)
MAX_VALUES = 1_000  # values over all parameters of one search, chains and _has included
MAX_SORT_KEYS = 16  # _sort keys (each is a lookup per match)
MAX_INCLUDES = 32  # _include/_revinclude parameters
MAX_SQL_VALUES = 20_000  # bound values in one statement (SQLite allows 32,766)


def check_escapes(name: str, value: str) -> None:
    """FHIR R4 search escaping: a backslash may only precede ``\\ , | $`` (``xx\\xx`` is illegal);
    anything else (or a trailing lone backslash) is a 400 naming the parameter (the value is not
    echoed). The check is the client's own :func:`unescape` (one definition of legal escaping)."""
    if "\\" not in value:
        return
    try:
        unescape(value)
    except SearchSyntaxError:
        raise SearchError(
            400, "INVALID_PARAMETER", f"Invalid escape in the value of search parameter '{name[:100]}'"
        ) from None


def _bad_value(name: str) -> SearchError:
    return SearchError(400, "INVALID_PARAMETER", f"Invalid value for search parameter '{name}'")


def any_of(conditions: Sequence[str]) -> str:
    """``(a) OR (b) OR ...`` as a balanced tree of parentheses: SQLite limits the depth of an
    expression (1,000), and a flat OR of n terms is n deep; this one is 2*log2(n)."""
    if len(conditions) <= 8:
        return " OR ".join(f"({c})" for c in conditions)
    half = len(conditions) // 2
    return f"({any_of(conditions[:half])}) OR ({any_of(conditions[half:])})"


@dataclass
class _Sql:
    sql: str
    args: list[Any] = field(default_factory=lambda: [])
    alias: str = ""
    exists: _Sql | None = None  # the same condition as a correlated EXISTS, when there is one
    selective: bool = True  # worth driving the query from (an index lookup on equality)
    weak: bool = False  # a range driver: used only when no equality condition can drive
    hint: str = ""  # an INDEXED BY clause for the driver (the planner favours the PK for DISTINCT)
    table: str = ""  # for a simple condition: the index table and param rows it reads ...
    driver: _Sql | None = None  # ... and the condition on that table under the resource's alias
    direct: _Sql | None = None  # a condition on the alias's own sp_resource row (when that is the source)


class Compiler:
    """Turns parameters into SQL for one (env, tenant); collects lenient warnings."""

    def __init__(self, env: str, tenant: str, lenient: bool) -> None:
        self.env = env
        self.tenant = tenant
        self.lenient = lenient
        self.warnings: list[str] = []
        self._n = 0
        self._ctes: list[tuple[str, _Sql]] = []
        self._depth = 0
        self._values = 0

    # -- helpers ---------------------------------------------------------------------------------
    def _alias(self) -> str:
        self._n += 1
        return f"x{self._n}"

    def _cte(self, sub: _Sql) -> str:
        """Name a nested id set as a common table expression (keeps the SQL shallow for the parser)."""
        name = f"c{len(self._ctes) + 1}"
        self._ctes.append((name, sub))
        return name

    def wrap(self, query: _Sql, *, more: bool = False) -> _Sql:
        """Prefix ``query`` with the WITH clause of every nested id set it uses; with ``more`` the
        query itself starts with further common table expressions."""
        parts = [f"{name} AS ({sub.sql})" for name, sub in self._ctes]
        args = [a for _, sub in self._ctes for a in sub.args]
        if not parts and not more:
            return query
        joiner = ", " if parts and more else " "
        return _Sql(f"WITH {', '.join(parts)}{joiner}{query.sql}", [*args, *query.args], query.alias)

    def alternatives(self, name: str, value: str) -> list[str]:
        """The comma-separated (OR) values of one parameter, still escaped; a 400 naming the
        parameter beyond :data:`MAX_OR_VALUES` of them, or :data:`MAX_VALUES` in the whole search
        (the work and the SQL of a search stay bounded)."""
        values = split_unescaped(value, ",")
        if len(values) > MAX_OR_VALUES:
            raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_OR_VALUES} values for '{name[:100]}'")
        self._values += len(values)
        if self._values > MAX_VALUES:
            raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_VALUES} values in one search")
        return values

    def unsupported(self, name: str, why: str) -> None:
        """Raise, or record a warning under lenient handling."""
        message = f"{why}: '{name[:100]}'"
        if not self.lenient:
            raise SearchError(400, "INVALID_PARAMETER", message)
        self.warnings.append(message)

    def _rows(self, table: str, rtype: str, param: str) -> tuple[str, str, list[Any]]:
        a = self._alias()
        head = f"SELECT {a}.id FROM {table} {a} WHERE {a}.env = ? AND {a}.type = ? AND {a}.param = ? AND {a}.tenant = ?"
        return a, head, [self.env, rtype, param, self.tenant]

    # -- resource sets ---------------------------------------------------------------------------
    def ids_query(self, rtype: str, terms: Sequence[tuple[str, str]]) -> _Sql:
        """SQL selecting the ids of live resources of ``rtype`` in this env/tenant matching all terms."""
        self._depth += 1
        try:
            return self._ids_query(rtype, terms)
        finally:
            self._depth -= 1

    def _ids_query(self, rtype: str, terms: Sequence[tuple[str, str]]) -> _Sql:
        if self._depth > MAX_DEPTH:
            raise SearchError(400, "INVALID_PARAMETER", f"Chains and _has nest deeper than {MAX_DEPTH} levels")
        a = self._alias()
        where = [f"{a}.env = ?", f"{a}.type = ?", f"{a}.tenant = ?"]
        args: list[Any] = [self.env, rtype, self.tenant]
        conds = [c for c in (self.term(rtype, name, value, a) for name, value in terms) if c is not None]
        # Drive from the first selective condition; check the others per candidate row with
        # correlated EXISTS lookups on the (env, type, id, param) indexes. A simple driver is read
        # straight from its index table under the resource's alias (its rows carry env, tenant, type
        # and id), so no per-candidate lookup of the resource row is needed.
        driver = next((c for c in conds if c.selective and not c.weak), None)
        driver = driver or next((c for c in conds if c.selective), None)
        source = f"sp_resource {a}"
        select = f"SELECT {a}.id"
        if driver is not None and driver.driver is not None:
            source = f"{driver.table} {a}{driver.hint}"
            select = f"SELECT DISTINCT {a}.id"
            where = [driver.driver.sql]
            args = list(driver.driver.args)
        for cond in conds:
            if cond is driver and cond.driver is not None:
                continue
            if cond.direct is not None and source.startswith("sp_resource "):
                where.append(cond.direct.sql)
                args.extend(cond.direct.args)
                continue
            chosen = cond if cond is driver or cond.exists is None else cond.exists
            where.append(chosen.sql)
            args.extend(chosen.args)
        return _Sql(f"{select} FROM {source} WHERE " + " AND ".join(where), args, a, table=source.split()[0])

    def term(self, rtype: str, name: str, value: str, alias: str) -> _Sql | None:
        """One AND-term (a parameter and its comma-separated OR values) on ``alias``.id."""
        try:
            parsed = parse_name(name)
        except SearchSyntaxError as err:
            self.unsupported(name, str(err).split(" '", 1)[0].capitalize())
            return None
        if parsed.links:
            link = parsed.links[0]
            if link.kind == "has":
                return self._has(rtype, name, link, parsed.rest, value, alias)
            return self._chain(rtype, name, link, parsed.rest, value, alias)
        code, modifier = parsed.code, parsed.modifier
        if code == "_list":
            return self._list(rtype, name, modifier, value, alias)
        if code == "_lastUpdated":
            return self._last_updated(name, modifier, value, alias)
        params = SEARCH_PARAMETERS.get(rtype, {})
        pdef = params.get(code)
        if pdef is None:
            self.unsupported(name, f"Unknown search parameter for {rtype}")
            return None
        if code in TEXT_PARAMS and pdef.type == "string":
            if modifier == "missing":
                if value not in ("true", "false"):
                    raise _bad_value(name)
                sql = (
                    f"{'NOT ' if value == 'true' else ''}EXISTS (SELECT 1 FROM sp_text t WHERE t.env = {alias}.env "
                    f"AND t.type = {alias}.type AND t.id = {alias}.id AND t.param = ?)"
                )
                return _Sql(sql, [code], selective=False)
            if modifier not in ("", "contains"):
                self.unsupported(name, "Search modifier not supported")
                return None
            return self._full_text(name, code, value, alias)
        if code == "near" and pdef.type == "special":
            if modifier == "missing":
                return self._missing(rtype, pdef, name, value, alias)
            if modifier:
                self.unsupported(name, "Search modifier not supported")
                return None
            return self._near(name, value, alias)
        if pdef.type == "special" or not pdef.expression:
            self.unsupported(name, "Search parameter not supported")
            return None
        if modifier == "missing":
            return self._missing(rtype, pdef, name, value, alias)
        if modifier and not self._modifier_ok(pdef, modifier):
            self.unsupported(name, "Search modifier not supported")
            return None
        values = self.alternatives(name, value)
        if code == "_id":
            return self._ids(alias, name, modifier, values)
        if pdef.type == "composite":
            return self._composite(rtype, pdef, name, values, alias)
        table = TABLES[pdef.type]
        if pdef.type == "token" and modifier == "of-type":
            param = code + ":of-type"
        elif pdef.type == "reference" and modifier == "identifier":
            table, param = "sp_token", code + ":identifier"
        else:
            param = code
        x, head, args = self._rows(table, rtype, param)
        ors: list[str] = []
        cond_args: list[Any] = []
        for raw in values:
            cond = self._value(pdef, name, modifier, raw, x, rtype)
            ors.append(cond.sql)
            cond_args.extend(cond.args)
        match = " AND (" + any_of(ors) + ")"
        negate = modifier in ("not", "not-in")
        correlated = self._correlated(table, x, alias)
        exists = _Sql(f"{'NOT ' if negate else ''}EXISTS ({correlated}{match})", [param, *cond_args])
        selective = not negate and (
            (pdef.type == "token" and modifier in ("", "of-type"))
            or (pdef.type == "string" and modifier != "contains")
            or pdef.type in ("reference", "uri")
        )
        # dates searched "from" a moment (ge/gt/sa) can drive from the (.., high) index: every match
        # ends after the earliest such bound
        floor = _date_floor(values) if pdef.type == "date" and not modifier else None
        driver: _Sql | None = None
        if selective or floor is not None:
            own: list[str] = []
            own_args: list[Any] = [self.env, rtype, param, self.tenant]
            bound = ""
            if floor is not None:
                bound = f"AND {alias}.high > ? "
                own_args.append(floor)
            for raw in values:
                cond = self._value(pdef, name, modifier, raw, alias, rtype)
                own.append(cond.sql)
                own_args.extend(cond.args)
            driver = _Sql(
                f"{alias}.env = ? AND {alias}.type = ? AND {alias}.param = ? AND {alias}.tenant = ? {bound}AND ("
                + any_of(own)
                + ")",
                own_args,
            )
        return _Sql(
            f"{alias}.id {'NOT IN' if negate else 'IN'} ({head}{match})",
            [*args, *cond_args],
            exists=exists,
            selective=selective or floor is not None,
            weak=floor is not None,
            hint=" INDEXED BY sp_date_range" if floor is not None else "",
            table=table,
            driver=driver,
        )

    @staticmethod
    def _correlated(table: str, x: str, alias: str) -> str:
        return (
            f"SELECT 1 FROM {table} {x} WHERE {x}.env = {alias}.env AND {x}.type = {alias}.type "
            f"AND {x}.id = {alias}.id AND {x}.param = ?"
        )

    def _last_updated(self, name: str, modifier: str, value: str, alias: str) -> _Sql | None:
        """``_lastUpdated`` on sp_resource.lu, the stored instant taken as a point (the sandbox stamps
        microseconds), so every prefix is a range on the (env, type, tenant, lu) index."""
        if modifier == "missing":
            if value not in ("true", "false"):
                raise _bad_value(name)
            test = "IS NULL" if value == "true" else "IS NOT NULL"
            direct = _Sql(f"{alias}.lu {test}")
            exists = _Sql(
                f"EXISTS (SELECT 1 FROM sp_resource s WHERE s.env = {alias}.env AND s.type = {alias}.type "
                f"AND s.id = {alias}.id AND s.lu {test})"
            )
            return _Sql(exists.sql, exists.args, exists=exists, selective=False, direct=direct)
        if modifier:
            self.unsupported(name, "Search modifier not supported")
            return None
        ors: list[str] = []
        inner: list[str] = []
        args: list[Any] = []
        for raw in self.alternatives(name, value):
            cond = _instant_cond(name, raw, f"{alias}.lu")
            ors.append(cond.sql)
            inner.append(_instant_cond(name, raw, "s.lu").sql)
            args.extend(cond.args)
        direct = _Sql("(" + any_of(ors) + ")", args)
        exists = _Sql(
            f"EXISTS (SELECT 1 FROM sp_resource s WHERE s.env = {alias}.env AND s.type = {alias}.type "
            f"AND s.id = {alias}.id AND (" + any_of(inner) + "))",
            list(args),
        )
        return _Sql(exists.sql, exists.args, exists=exists, selective=False, direct=direct)

    def _list(self, rtype: str, name: str, modifier: str, value: str, alias: str) -> _Sql | None:
        """``_list=id[,id]``: resources that are items of one of the caller's List resources."""
        if modifier:
            self.unsupported(name, "Search modifier not supported")
            return None
        ids = [unescape(v) for v in self.alternatives(name, value)]
        if not all(ids) or any(i.startswith("$") for i in ids):
            raise _bad_value(name)
        x = self._alias()
        marks = ", ".join("?" * len(ids))
        sql = (
            f"{alias}.id IN (SELECT {x}.ref_id FROM sp_reference {x} WHERE {x}.env = ? AND {x}.type = 'List' "
            f"AND {x}.id IN ({marks}) AND {x}.param = 'item' AND {x}.tenant = ? AND {x}.ref_type = ?)"
        )
        return _Sql(sql, [self.env, *ids, self.tenant, rtype])

    def _near(self, name: str, value: str, alias: str) -> _Sql:
        """``near=lat|long[|distance[|units]]`` (km by default; m, km, mi): within the distance of the
        point, by the equirectangular approximation (good to well under 1% below a few hundred km;
        no wrap at the antimeridian). Without a distance, 10 km."""
        ors: list[str] = []
        args: list[Any] = []
        for raw in self.alternatives(name, value):
            pieces = [unescape(p) for p in split_unescaped(raw, "|")]
            if not 2 <= len(pieces) <= 4:
                raise _bad_value(name)
            lat, lon = search_number(pieces[0]), search_number(pieces[1])
            dist = search_number(pieces[2]) if len(pieces) > 2 and pieces[2] else Decimal(10)
            unit = pieces[3] if len(pieces) > 3 and pieces[3] else "km"
            if lat is None or lon is None or dist is None or dist < 0 or unit not in _DISTANCE_UNITS:
                raise _bad_value(name)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise _bad_value(name)
            km = float(dist) * _DISTANCE_UNITS[unit]
            lat0, lon0 = float(lat), float(lon)
            dlat = km / _KM_PER_DEGREE
            shrink = max(math.cos(math.radians(lat0)), 1e-6)
            ors.append(
                "(la.low BETWEEN ? AND ? AND ((la.low - ?) * (la.low - ?) + (lo.low - ?) * (lo.low - ?) * ?) <= ?)"
            )
            args.extend([lat0 - dlat, lat0 + dlat, lat0, lat0, lon0, lon0, shrink * shrink, dlat * dlat])
        sql = (
            f"EXISTS (SELECT 1 FROM sp_number la JOIN sp_number lo ON lo.env = la.env AND lo.type = la.type "
            f"AND lo.id = la.id AND lo.param = 'near#long' AND lo.grp = la.grp WHERE la.env = {alias}.env "
            f"AND la.type = {alias}.type AND la.id = {alias}.id AND la.param = 'near#lat' AND (" + any_of(ors) + "))"
        )
        return _Sql(sql, args, selective=False)

    def _full_text(self, name: str, code: str, value: str, alias: str) -> _Sql:
        """``_content``/``_text``: every word of one of the (comma-separated) values occurs in the
        resource's normalised text, case- and accent-insensitively."""
        ors: list[str] = []
        args: list[Any] = [code]
        for raw in self.alternatives(name, value):
            words = normalise(unescape(raw)).split()
            if not words:
                raise _bad_value(name)
            ors.append(" AND ".join("instr(t.content, ?) > 0" for _ in words))
            args.extend(words)
        sql = (
            f"EXISTS (SELECT 1 FROM sp_text t WHERE t.env = {alias}.env AND t.type = {alias}.type "
            f"AND t.id = {alias}.id AND t.param = ? AND (" + any_of(ors) + "))"
        )
        return _Sql(sql, args, selective=False)

    def _modifier_ok(self, pdef: ParamDef, modifier: str) -> bool:
        if pdef.code == "_id":
            return modifier in ID_MODIFIERS
        if modifier in MODIFIERS.get(pdef.type, ()):
            return True
        return pdef.type == "reference" and modifier in pdef.targets

    def _ids(self, alias: str, name: str, modifier: str, values: list[str]) -> _Sql:
        ids = [unescape(v) for v in values]
        if any(not v for v in ids):
            raise _bad_value(name)
        if modifier == "text":  # an id has no text (display) to match
            return _Sql("0", selective=False)
        if modifier in ("in", "not-in"):
            from ._valuesets import value_set_codes

            codes: set[str] = set()
            for url in ids:
                found = value_set_codes(url)
                if found is None:
                    raise SearchError(400, "INVALID_PARAMETER", f"Unknown value set for search parameter '{name}'")
                codes.update(code for _, code in found)
            negate = modifier == "not-in"
            return _Sql(
                f"{alias}.id {'NOT IN' if negate else 'IN'} (SELECT value FROM json_each(?))",
                [json.dumps(sorted(codes))],
                selective=False,
            )
        marks = ", ".join("?" * len(ids))
        negate = modifier == "not"
        return _Sql(f"{alias}.id {'NOT IN' if negate else 'IN'} ({marks})", ids)

    def _missing(self, rtype: str, pdef: ParamDef, name: str, value: str, alias: str) -> _Sql | None:
        if value not in ("true", "false"):
            raise _bad_value(name)
        if pdef.code == "_id":  # every resource has an id
            return _Sql("0" if value == "true" else "1", selective=False)
        if pdef.type == "composite":
            table = TABLES.get(_component_kind(rtype, pdef, 0), "sp_token")
            param = pdef.code + "#0"
        elif pdef.code == "near":
            table, param = "sp_number", "near#lat"
        else:
            table, param = TABLES[pdef.type], pdef.code
        x, head, args = self._rows(table, rtype, param)
        absent = value == "true"
        exists = _Sql(f"{'NOT ' if absent else ''}EXISTS ({self._correlated(table, x, alias)})", [param])
        return _Sql(f"{alias}.id {'NOT IN' if absent else 'IN'} ({head})", args, exists=exists, selective=False)

    # -- per-kind value conditions on one index row --------------------------------------------------
    def _value(self, pdef: ParamDef, name: str, modifier: str, raw: str, x: str, rtype: str) -> _Sql:
        kind = pdef.type
        if kind == "token":
            return self._token(pdef, name, modifier, raw, x)
        if kind == "string":
            text = unescape(raw)
            if modifier == "exact":
                return _Sql(f"{x}.raw = ?", [text])
            norm = normalise(text)
            if modifier == "contains":
                return _Sql(f"instr({x}.value, ?) > 0", [norm])
            return _Sql(f"{x}.value >= ? AND {x}.value < ?", [norm, norm + _TOP])
        if kind == "date":
            return self._date(name, raw, x)
        if kind in ("number", "quantity"):
            return self._number(name, raw, x, quantity=kind == "quantity")
        if kind == "reference":
            return self._reference(pdef, name, modifier, raw, x, rtype)
        if kind == "uri":
            uri = unescape(raw)
            if modifier == "below":
                return _Sql(f"substr({x}.uri, 1, ?) = ?", [len(uri), uri])
            if modifier == "above":
                return _Sql(f"substr(?, 1, length({x}.uri)) = {x}.uri", [uri])
            return _Sql(f"{x}.uri = ?", [uri])
        raise _bad_value(name)  # pragma: no cover - kinds are exhaustive

    def _token(self, pdef: ParamDef, name: str, modifier: str, raw: str, x: str) -> _Sql:
        if modifier == "text":  # R4: processed as a string search, i.e. the text starts with the value
            norm = normalise(unescape(raw))
            return _Sql(f"{x}.text >= ? AND {x}.text < ?", [norm, norm + _TOP])
        if modifier in ("in", "not-in"):
            return self._in_value_set(name, unescape(raw), x)
        pieces = split_unescaped(raw, "|")
        if modifier == "of-type":
            if len(pieces) != 3 or not pieces[1] or not pieces[2]:
                raise _bad_value(name)
            tsys, tcode, val = (unescape(p) for p in pieces)
            return _Sql(f"{x}.system IS ? AND {x}.code = ? AND {x}.text = ?", [tsys or None, tcode, val])
        if len(pieces) > 2:
            raise _bad_value(name)
        if len(pieces) == 1:
            code = unescape(pieces[0])
            if not code:
                raise _bad_value(name)
            return _Sql(f"{x}.code = ?", [code])
        system, code = unescape(pieces[0]), unescape(pieces[1])
        if not system and not code:
            raise _bad_value(name)
        if not system:
            return _Sql(f"{x}.system IS NULL AND {x}.code = ?", [code])
        if not code:
            return _Sql(f"{x}.system = ?", [system])
        return _Sql(f"{x}.system = ? AND {x}.code = ?", [system, code])

    def _in_value_set(self, name: str, url: str, x: str) -> _Sql:
        from ._valuesets import value_set_codes

        codes = value_set_codes(url)
        if codes is None:
            raise SearchError(400, "INVALID_PARAMETER", f"Unknown value set for search parameter '{name}'")

        pairs = json.dumps(sorted(f"{s}|{c}" for s, c in codes))
        bare = json.dumps(sorted({c for _, c in codes}))
        return _Sql(
            f"(({x}.system IS NOT NULL AND {x}.system || '|' || {x}.code IN (SELECT value FROM json_each(?)))"
            f" OR ({x}.system IS NULL AND {x}.code IN (SELECT value FROM json_each(?))))",
            [pairs, bare],
        )

    def _date(self, name: str, raw: str, x: str) -> _Sql:
        prefix, text = _prefix(unescape(raw))
        rng = date_range(text)
        if rng is None:
            raise _bad_value(name)
        pl, ph = rng
        lo, hi = f"{x}.low", f"{x}.high"
        if prefix == "eq":
            return _Sql(f"{lo} >= ? AND {hi} <= ?", [pl, ph])
        if prefix == "ne":
            return _Sql(f"NOT ({lo} >= ? AND {hi} <= ?)", [pl, ph])
        if prefix == "gt":
            return _Sql(f"{hi} > ?", [ph])
        if prefix == "lt":
            return _Sql(f"{lo} < ?", [pl])
        if prefix == "ge":
            return _Sql(f"({lo} >= ? OR {hi} > ?)", [pl, ph])
        if prefix == "le":
            return _Sql(f"({hi} <= ? OR {lo} < ?)", [ph, pl])
        if prefix == "sa":
            return _Sql(f"{lo} >= ?", [ph])
        if prefix == "eb":
            return _Sql(f"{hi} <= ?", [pl])
        # ap: the search range widened by 10% of its distance from now (at least its own width)
        now = int(time.time() * 1_000_000)
        delta = max(abs(now - pl) // 10, ph - pl)
        return _Sql(f"{lo} < ? AND {hi} > ?", [ph + delta, pl - delta])

    def _number(self, name: str, raw: str, x: str, *, quantity: bool) -> _Sql:
        pieces = split_unescaped(raw, "|") if quantity else [raw]
        if len(pieces) not in (1, 3):
            raise _bad_value(name)
        prefix, text = _prefix(unescape(pieces[0]))
        number = search_number(text)
        if number is None:
            raise _bad_value(name)
        cond = _number_cond(prefix, number, x)
        if len(pieces) == 3:
            system, code = unescape(pieces[1]), unescape(pieces[2])
            if system:
                cond.sql += f" AND {x}.system = ?"
                cond.args.append(system)
            if code:
                if system:
                    cond.sql += f" AND {x}.code = ?"
                    cond.args.append(code)
                else:
                    cond.sql += f" AND ({x}.code = ? OR {x}.unit = ?)"
                    cond.args.extend([code, code])
        return cond

    def _reference(self, pdef: ParamDef, name: str, modifier: str, raw: str, x: str, rtype: str) -> _Sql:
        ref = unescape(raw)
        if not ref:
            raise _bad_value(name)
        if modifier == "identifier":
            pieces = split_unescaped(raw, "|")
            if len(pieces) == 1:
                return _Sql(f"{x}.code = ?", [unescape(pieces[0])])
            if len(pieces) != 2:
                raise _bad_value(name)
            system, code = unescape(pieces[0]), unescape(pieces[1])
            if system and code:
                return _Sql(f"{x}.system = ? AND {x}.code = ?", [system, code])
            if code:
                return _Sql(f"{x}.system IS NULL AND {x}.code = ?", [code])
            return _Sql(f"{x}.system = ?", [system])
        if "://" in ref or ref.startswith(("urn:", "#")):
            url, _, version = ref.partition("|")
            url = url.split("/_history/")[0]
            local = local_reference(url) if not version else None
            if local is not None:  # the sandbox's own base: the same resource as ``Type/id``
                if modifier and modifier != local[0]:
                    raise _bad_value(name)
                return _Sql(f"{x}.ref_type = ? AND {x}.ref_id = ?", [local[0], local[1]])
            if version:
                return _Sql(f"{x}.ref_id IS NULL AND {x}.url = ? AND {x}.version = ?", [url, version])
            return _Sql(f"{x}.ref_id IS NULL AND {x}.url = ?", [url])
        pieces = ref.split("/_history/")[0].split("/")
        if len(pieces) == 2:
            rtarget, rid = pieces
            if rtarget not in SEARCH_PARAMETERS or (modifier and modifier != rtarget):
                raise _bad_value(name)
            return _Sql(f"{x}.ref_type = ? AND {x}.ref_id = ?", [rtarget, rid])
        if len(pieces) != 1:
            raise _bad_value(name)
        if modifier:
            return _Sql(f"{x}.ref_type = ? AND {x}.ref_id = ?", [modifier, ref])
        return _Sql(f"{x}.ref_id = ?", [ref])

    # -- chains, _has, composites --------------------------------------------------------------
    def _chain(self, rtype: str, name: str, link: Link, tail: str, value: str, alias: str) -> _Sql | None:
        """``ref[:Type].tail``: resources whose reference ``ref`` points at a ``Type`` matching ``tail``."""
        pdef = SEARCH_PARAMETERS.get(rtype, {}).get(link.code)
        if pdef is None or pdef.type != "reference":
            self.unsupported(name, f"Unknown chained search parameter for {rtype}")
            return None
        targets = [link.type] if link.type else list(pdef.targets)
        if link.type and link.type not in pdef.targets:
            self.unsupported(name, "Chain target type not allowed")
            return None
        inner = parse_name(tail)
        first = inner.links[0] if inner.links else None
        usable = [
            t
            for t in targets
            if (first is not None and first.kind == "has")
            or (first.code if first is not None else inner.code) in SEARCH_PARAMETERS.get(t, {})
        ]
        if not usable:
            self.unsupported(name, f"Unknown chained search parameter for {rtype}")
            return None
        x, head_sql, args = self._rows("sp_reference", rtype, link.code)
        ors: list[str] = []
        for target in usable:
            saved = len(self.warnings)
            ids = self.ids_query(target, [(tail, value)])
            if len(self.warnings) > saved:
                return None  # lenient: the inner parameter was unknown; drop the whole chain term
            ors.append(f"({x}.ref_type = ? AND {x}.ref_id IN {self._cte(ids)})")
            args.append(target)
        return _Sql(f"{alias}.id IN ({head_sql} AND ({' OR '.join(ors)}))", args)

    def _has(self, rtype: str, name: str, link: Link, tail: str, value: str, alias: str) -> _Sql | None:
        """``_has:Source:ref:tail``: resources that a ``Source`` matching ``tail`` points at by ``ref``."""
        src, ref_code = link.type, link.code
        pdef = SEARCH_PARAMETERS.get(src, {}).get(ref_code)
        if pdef is None or pdef.type != "reference":
            self.unsupported(name, "Unknown _has reference parameter")
            return None
        if pdef.targets and rtype not in pdef.targets:
            self.unsupported(name, f"_has reference parameter cannot point at {rtype}")
            return None
        saved = len(self.warnings)
        inner = self.ids_query(src, [(tail, value)])
        if len(self.warnings) > saved:
            return None
        x = self._alias()
        sql = (
            f"{alias}.id IN (SELECT {x}.ref_id FROM sp_reference {x} WHERE {x}.env = ? AND {x}.type = ? "
            f"AND {x}.param = ? AND {x}.tenant = ? AND {x}.ref_type = ? AND {x}.id IN {self._cte(inner)})"
        )
        return _Sql(sql, [self.env, src, ref_code, self.tenant, rtype])

    def _composite(self, rtype: str, pdef: ParamDef, name: str, values: list[str], alias: str) -> _Sql:
        params = SEARCH_PARAMETERS[rtype]
        comps = [params.get(code) for code, _ in pdef.components]
        if any(c is None or c.type not in TABLES for c in comps):
            raise SearchError(400, "INVALID_PARAMETER", f"Search parameter not supported: '{name}'")
        ors: list[str] = []
        args: list[Any] = []
        for raw in values:
            pieces = split_unescaped(raw, "$")
            if len(pieces) != len(comps):
                raise _bad_value(name)
            aliases = [self._alias() for _ in comps]
            first = aliases[0]
            frm = [f"{TABLES[comps[0].type]} {first}"]  # type: ignore[union-attr]
            where = [f"{first}.env = ?", f"{first}.type = ?", f"{first}.tenant = ?", f"{first}.param = ?"]
            wargs: list[Any] = [self.env, rtype, self.tenant, f"{pdef.code}#0"]
            jargs: list[Any] = []
            for n, (comp, piece, a) in enumerate(zip(comps, pieces, aliases, strict=True)):
                assert comp is not None
                if n > 0:
                    frm.append(
                        f"JOIN {TABLES[comp.type]} {a} ON {a}.env = {first}.env AND {a}.type = {first}.type "
                        f"AND {a}.id = {first}.id AND {a}.grp = {first}.grp AND {a}.param = ?"
                    )
                    jargs.append(f"{pdef.code}#{n}")
                cond = self._value(comp, name, "", piece, a, rtype)
                where.append(f"({cond.sql})")
                wargs.extend(cond.args)
            ors.append(f"SELECT {first}.id FROM " + " ".join(frm) + " WHERE " + " AND ".join(where))
            args.extend(jargs + wargs)
        return _Sql(f"{alias}.id IN ({' UNION '.join(ors)})", args)


def _component_kind(rtype: str, pdef: ParamDef, n: int) -> str:
    comp = SEARCH_PARAMETERS.get(rtype, {}).get(pdef.components[n][0]) if pdef.components else None
    return comp.type if comp is not None else "token"


def search_number(text: str) -> Decimal | None:
    """A number search value, or None when it is not a number or lies beyond what the index can
    compare (``1e999999999`` would overflow every float and Decimal operation on it)."""
    if len(text) > 100:
        return None
    number = decimal_value(text)
    if number is None:
        return None
    exponent = number.as_tuple().exponent  # (no arithmetic: it could overflow the Decimal context)
    if not isinstance(exponent, int) or not -330 <= exponent <= 330 or number.adjusted() > 299:
        return None
    return number


def _prefix(text: str) -> tuple[str, str]:
    if len(text) > 2 and text[:2] in PREFIXES and not text[:2].isdigit():
        return text[:2], text[2:]
    return "eq", text


def _date_floor(values: list[str]) -> int | None:
    """The lowest bound every match's end exceeds, when each value is ge/gt/sa (else None)."""
    floors: list[int] = []
    for raw in values:
        prefix, text = _prefix(unescape(raw))
        rng = date_range(text)
        if rng is None or prefix not in ("ge", "gt", "sa"):
            return None
        floors.append(rng[0] if prefix == "ge" else rng[1])
    return min(floors) if floors else None


def _instant_cond(name: str, raw: str, col: str) -> _Sql:
    """A date search value against a stored instant ``col`` taken as a point in time."""
    prefix, text = _prefix(unescape(raw))
    rng = date_range(text)
    if rng is None:
        raise _bad_value(name)
    pl, ph = rng
    if prefix == "eq":
        return _Sql(f"{col} >= ? AND {col} < ?", [pl, ph])
    if prefix == "ne":
        return _Sql(f"NOT ({col} >= ? AND {col} < ?)", [pl, ph])
    if prefix in ("gt", "sa"):
        return _Sql(f"{col} >= ?", [ph])
    if prefix in ("lt", "eb"):
        return _Sql(f"{col} < ?", [pl])
    if prefix == "ge":
        return _Sql(f"{col} >= ?", [pl])
    if prefix == "le":
        return _Sql(f"{col} < ?", [ph])
    now = int(time.time() * 1_000_000)
    delta = max(abs(now - pl) // 10, ph - pl)
    return _Sql(f"{col} >= ? AND {col} < ?", [pl - delta, ph + delta])


def _number_cond(prefix: str, number: Decimal, x: str) -> _Sql:
    lo, hi = f"{x}.low", f"{x}.high"
    v = float(number)
    if prefix in ("eq", "ne"):
        pl, ph = precision_range(number)
        cond = f"{lo} >= ? AND {hi} < ?"
        return _Sql(cond if prefix == "eq" else f"NOT ({cond})", [pl, ph])
    if prefix == "gt":
        return _Sql(f"{hi} > ?", [v])
    if prefix == "lt":
        return _Sql(f"{lo} < ?", [v])
    if prefix == "ge":
        return _Sql(f"{hi} >= ?", [v])
    if prefix == "le":
        return _Sql(f"{lo} <= ?", [v])
    if prefix == "sa":
        return _Sql(f"{lo} > ?", [v])
    if prefix == "eb":
        return _Sql(f"{hi} < ?", [v])
    delta = abs(v) * 0.1
    return _Sql(f"{lo} <= ? AND {hi} >= ?", [v + delta, v - delta])


# -- sorting -------------------------------------------------------------------------------------
_SORT_EXPR = {
    "token": ("MIN({x}.code)", "MAX({x}.code)"),
    "string": ("MIN({x}.value)", "MAX({x}.value)"),
    "date": ("MIN({x}.low)", "MAX({x}.low)"),
    "number": ("MIN({x}.low)", "MAX({x}.high)"),
    "quantity": ("MIN({x}.low)", "MAX({x}.high)"),
    "reference": ("MIN({x}.url)", "MAX({x}.url)"),
    "uri": ("MIN({x}.uri)", "MAX({x}.uri)"),
}


def sort_clause(
    compiler: Compiler, rtype: str, value: str, id_expr: str, lu_expr: str | None = None
) -> tuple[list[str], list[Any]]:
    """ORDER BY terms for ``_sort`` (several keys, ``-`` descending, missing values last) on the
    resource whose id is ``id_expr`` (``lu_expr``: its sp_resource.lu column, when in scope)."""
    terms: list[str] = []
    args: list[Any] = []
    keys = value.split(",")
    if len(keys) > MAX_SORT_KEYS:
        raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_SORT_KEYS} keys in '_sort'")
    for key in keys:
        key = key.strip()
        desc = key.startswith("-")
        code = key[1:] if desc else key
        direction = "DESC" if desc else "ASC"
        if code == "_id":
            terms.append(f"{id_expr} {direction}")
            continue
        if code == "_lastUpdated" and lu_expr is not None:
            terms.append(f"{lu_expr} {direction} NULLS LAST")
            continue
        if code == "_lastUpdated":
            lu = f"(SELECT s.lu FROM sp_resource s WHERE s.env = ? AND s.type = ? AND s.id = {id_expr})"
            terms.append(f"{lu} {direction} NULLS LAST")
            args.extend([compiler.env, rtype])
            continue
        pdef = SEARCH_PARAMETERS.get(rtype, {}).get(code)
        if pdef is None or pdef.type not in _SORT_EXPR or not pdef.expression:
            compiler.unsupported("_sort", "Unknown or unsortable _sort key")
            continue
        x = compiler._alias()  # pyright: ignore[reportPrivateUsage]
        agg = _SORT_EXPR[pdef.type][1 if desc else 0].format(x=x)
        sub = (
            f"(SELECT {agg} FROM {TABLES[pdef.type]} {x} WHERE {x}.env = ? AND {x}.type = ? "
            f"AND {x}.id = {id_expr} AND {x}.param = ?)"
        )
        terms.append(f"{sub} {direction} NULLS LAST")
        args.extend([compiler.env, rtype, code])
    return terms, args


# -- includes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IncludeSpec:
    """One parsed ``_include``/``_revinclude`` value."""

    source: str  # the resource type holding the reference ("*" for _include=*)
    param: str  # reference parameter code, or "*"
    target: str | None
    reverse: bool
    iterate: bool


def parse_include(name: str, value: str) -> IncludeSpec:
    """Parse ``Type:param[:Target]`` (or ``*``); anything else is a 400 naming the parameter."""
    base, _, modifier = name.partition(":")
    if modifier not in ("", "iterate", "recurse"):
        raise SearchError(400, "INVALID_PARAMETER", f"Unknown modifier on '{base}'")
    reverse = base == "_revinclude"
    iterate = modifier in ("iterate", "recurse")
    if value == "*":
        return IncludeSpec("*", "*", None, reverse, iterate)
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise SearchError(400, "INVALID_PARAMETER", f"Malformed value for '{base}'")
    source, param = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    params = SEARCH_PARAMETERS.get(source)
    if params is None:
        raise SearchError(400, "INVALID_PARAMETER", f"Unknown resource type in '{base}'")
    if param != "*":
        pdef = params.get(param)
        if pdef is None or pdef.type != "reference":
            raise SearchError(400, "INVALID_PARAMETER", f"Unknown reference parameter in '{base}'")
        if target is not None and target not in pdef.targets:
            raise SearchError(400, "INVALID_PARAMETER", f"Target type not allowed in '{base}'")
    return IncludeSpec(source, param, target, reverse, iterate)


def _reference_params(rtype: str) -> list[str]:
    return sorted(c for c, p in SEARCH_PARAMETERS.get(rtype, {}).items() if p.type == "reference" and p.expression)


def resolve_includes(
    conn: sqlite3.Connection, env: str, tenant: str, sources: list[tuple[str, str]], specs: list[IncludeSpec]
) -> list[tuple[str, str]]:
    """The (type, id) of resources included by ``specs`` from ``sources``, live, in this tenant,
    excluding the sources themselves; ``:iterate`` specs also run on what was included."""
    seen: set[tuple[str, str]] = set(sources)
    found: list[tuple[str, str]] = []
    frontier = list(sources)
    first = True
    for _ in range(_MAX_INCLUDE_ROUNDS):
        active = [s for s in specs if first or s.iterate]
        if not active or not frontier:
            break
        new: list[tuple[str, str]] = []
        for spec in active:
            for hit in _include_once(conn, env, tenant, frontier, spec):
                if hit not in seen:
                    seen.add(hit)
                    new.append(hit)
        found.extend(new)
        frontier = new
        first = False
    return found


def _include_once(
    conn: sqlite3.Connection, env: str, tenant: str, frontier: list[tuple[str, str]], spec: IncludeSpec
) -> list[tuple[str, str]]:
    by_type: dict[str, list[str]] = {}
    for rtype, rid in frontier:
        by_type.setdefault(rtype, []).append(rid)
    hits: list[tuple[str, str]] = []
    for rtype, ids in sorted(by_type.items()):
        ids_json = _json_list(ids)
        if not spec.reverse:
            if spec.source not in ("*", rtype):
                continue
            params = _reference_params(rtype) if spec.param == "*" else [spec.param]
            if not params:
                continue
            sql = (
                "SELECT DISTINCT i.ref_type, i.ref_id FROM sp_reference i JOIN sp_resource r ON r.env = i.env "
                "AND r.type = i.ref_type AND r.id = i.ref_id AND r.tenant = ? "
                "WHERE i.env = ? AND i.type = ? AND i.tenant = ? AND i.id IN (SELECT value FROM json_each(?)) "
                "AND i.param IN (SELECT value FROM json_each(?)) AND i.ref_id IS NOT NULL"
            )
            args: list[Any] = [tenant, env, rtype, tenant, ids_json, _json_list(params)]
            if spec.target:
                sql += " AND i.ref_type = ?"
                args.append(spec.target)
            sql += " ORDER BY i.ref_type, i.ref_id"
        else:
            if spec.source == "*":
                from ._capabilities import revinclude_pairs

                sql = (
                    "SELECT DISTINCT i.type, i.id FROM json_each(?) pr CROSS JOIN sp_reference i ON i.env = ? "
                    "AND i.type = json_extract(pr.value, '$[0]') AND i.param = json_extract(pr.value, '$[1]') "
                    "JOIN sp_resource r ON r.env = i.env AND r.type = i.type AND r.id = i.id AND r.tenant = ? "
                    "WHERE i.ref_id IN (SELECT value FROM json_each(?)) AND i.ref_type = ? AND i.tenant = ? "
                    "ORDER BY i.type, i.id"
                )
                pairs = json.dumps([list(p.split(":")) for p in revinclude_pairs(rtype)])
                args = [pairs, env, tenant, ids_json, rtype, tenant]
            else:
                if spec.target is not None and spec.target != rtype:
                    continue
                params = _reference_params(spec.source) if spec.param == "*" else [spec.param]
                sql = (
                    "SELECT DISTINCT i.type, i.id FROM sp_reference i JOIN sp_resource r ON r.env = i.env "
                    "AND r.type = i.type AND r.id = i.id AND r.tenant = ? "
                    "WHERE i.env = ? AND i.type = ? AND i.tenant = ? AND i.param IN (SELECT value FROM json_each(?)) "
                    "AND i.ref_type = ? AND i.ref_id IN (SELECT value FROM json_each(?)) ORDER BY i.id"
                )
                args = [tenant, env, spec.source, tenant, _json_list(params), rtype, ids_json]
        hits.extend((str(t), str(i)) for t, i in conn.execute(sql, args))
    return hits


def _json_list(items: list[str]) -> str:
    return json.dumps(items)


def index_tenants(conn: sqlite3.Connection, env: str) -> set[str]:
    """Every tenant code that owns an indexed resource in ``env`` (for the tenant rule)."""
    return {str(row[0]) for row in conn.execute("SELECT DISTINCT tenant FROM sp_resource WHERE env = ?", (env,))}


def _check_size(query: _Sql) -> None:
    if len(query.args) > MAX_SQL_VALUES:
        raise SearchError(400, "INVALID_PARAMETER", "The search has too many values")


# -- running -------------------------------------------------------------------------------------
def _page_ids(
    conn: sqlite3.Connection,
    compiler: Compiler,
    rtype: str,
    where: _Sql,
    terms: Sequence[tuple[str, str]],
    sort: str | None,
    want_total: bool,
    limit: int,
    offset: int,
) -> tuple[list[str], int | None]:
    """The ids of ``limit`` matches from ``offset`` in sort order (ties by id), and the total when
    it came for free (one pass that materialises the matches once, counts and sorts them)."""
    if terms and want_total:
        order_terms, order_args = sort_clause(compiler, rtype, sort, "m.id") if sort else ([], [])
        page = _Sql(
            f"m AS MATERIALIZED ({where.sql}) SELECT m.id, (SELECT COUNT(*) FROM m) FROM m ORDER BY "
            + ", ".join([*order_terms, "m.id ASC"])
            + " LIMIT ? OFFSET ?",
            [*where.args, *order_args, limit, offset],
        )
        page = compiler.wrap(page, more=True)
        _check_size(page)
        rows = conn.execute(page.sql, page.args).fetchall()
        return [str(r[0]) for r in rows], (int(rows[0][1]) if rows else None)
    alias = where.alias
    lu_expr = f"{alias}.lu" if where.table == "sp_resource" else None
    order_terms, order_args = sort_clause(compiler, rtype, sort, f"{alias}.id", lu_expr) if sort else ([], [])
    page = _Sql(
        where.sql + " ORDER BY " + ", ".join([*order_terms, f"{alias}.id ASC"]) + " LIMIT ? OFFSET ?",
        [*where.args, *order_args, limit, offset],
    )
    page = compiler.wrap(page)
    _check_size(page)
    return [str(r[0]) for r in conn.execute(page.sql, page.args)], None


def run(
    conn: sqlite3.Connection,
    *,
    env: str,
    tenant: str,
    type: str,
    params: Sequence[tuple[str, str]],
    offset: int,
    count: int,
    lenient: bool,
    snapshot: str | bool = False,
) -> SearchResult:
    """Answer one type-level search, tenant- and env-scoped, one page at ``offset``.

    ``snapshot``: False pages by offset over the current data; True keeps the ordered matches when
    there is more than one page (the result's ``snapshot`` names them); a snapshot id serves the
    page at ``offset`` from that snapshot when it is still kept (see :mod:`._snapshots` for the
    semantics), else as True."""
    if type not in SEARCH_PARAMETERS:
        raise SearchError(400, "INVALID_PARAMETER", "Unknown resource type")
    compiler = Compiler(env, tenant, lenient)
    terms: list[tuple[str, str]] = []
    sort: str | None = None
    total_mode = "accurate"
    summary_count = False
    elements: list[str] | None = None
    includes: list[IncludeSpec] = []
    for name, value in params:
        if name in _IGNORED:
            continue
        try:
            parsed = parse_name(name)
        except SearchSyntaxError:
            compiler.unsupported(name, "Malformed search parameter name")
            continue
        base = "" if parsed.links else parsed.code
        if name == "_sort":
            if sort is not None:
                raise SearchError(400, "INVALID_PARAMETER", "Repeated parameter '_sort'")
            sort = value
        elif name == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise _bad_value("_total")
            total_mode = value
        elif name == "_summary":
            if value == "count":
                summary_count = True
            elif value != "false":
                compiler.unsupported("_summary", "Unsupported _summary mode")
        elif name == "_elements":
            names = [e.strip() for e in value.split(",") if e.strip()]
            if not all(_ELEMENT_RE.match(e) for e in names):
                raise _bad_value("_elements")
            elements = (elements or []) + names
        elif base in ("_include", "_revinclude"):
            includes.append(parse_include(name, value))
            if len(includes) > MAX_INCLUDES:
                raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_INCLUDES} _include/_revinclude parameters")
        elif parsed.links or not base.startswith("_") or base in SEARCH_PARAMETERS[type] or base == "_list":
            terms.append((name, value))
        elif base in R4_RESULT_PARAMETERS:
            compiler.unsupported(name, "Unsupported result parameter")
        else:
            compiler.unsupported(name, "Unknown or unsupported search parameter")
    for name, value in terms:
        check_escapes(name, value)
        reason = tenant_tag_refusal(name, value, tenant=tenant, tenant_codes=lambda: index_tenants(conn, env))
        if reason is not None:
            raise SearchError(403, "TENANT_CONFLICT", f"Search parameter refused: {reason}")
    if len(terms) > MAX_TERMS:
        raise SearchError(400, "INVALID_PARAMETER", f"More than {MAX_TERMS} search parameters")
    where = compiler.ids_query(type, terms)
    total: int | None = None
    ids: list[str] = []
    found: list[tuple[str, str]] = []
    offset = max(0, offset)
    want_total = total_mode != "none" or summary_count
    kept: str | None = None
    if not summary_count and count > 0:
        key: SnapshotKey = (env, tenant, type, tuple((n, v) for n, v in params))
        sid = snapshot if isinstance(snapshot, str) else None
        snap = SNAPSHOTS.get(sid, key) if sid is not None else None
        if snap is not None:  # a later page of a snapshot: a slice
            ids, total, kept = list(snap.ids[offset : offset + count]), snap.total, sid
        elif snapshot is not False:
            # the whole ordered match list, once (up to MAX_IDS); kept when there is more than one page
            every, counted = _page_ids(conn, compiler, type, where, terms, sort, want_total, MAX_IDS + 1, 0)
            if len(every) <= MAX_IDS:
                total = len(every)
                ids = every[offset : offset + count]
                if total > offset + count:
                    kept = SNAPSHOTS.put(key, every, total)
            else:
                ids, total = _page_ids(conn, compiler, type, where, terms, sort, want_total, count, offset)
                total = counted if total is None else total
        else:
            ids, total = _page_ids(conn, compiler, type, where, terms, sort, want_total, count, offset)
        if ids and len(ids) < count and total is None:
            total = offset + len(ids)  # a short, non-empty page is the last one
        if includes and ids:
            found = resolve_includes(conn, env, tenant, [(type, i) for i in ids], includes)
    elif sort:
        sort_clause(compiler, type, sort, "id")  # validate the keys even when no page is read
    if total is None and want_total:
        counting = compiler.wrap(_Sql(f"SELECT COUNT(*) FROM ({where.sql})", where.args))
        _check_size(counting)
        total = int(conn.execute(counting.sql, counting.args).fetchone()[0])
    if not want_total:
        total = None
    return SearchResult(
        ids=ids,
        total=total,
        snapshot=kept,
        includes=found,
        summary_count=summary_count,
        elements=elements,
        warnings=compiler.warnings,
    )
