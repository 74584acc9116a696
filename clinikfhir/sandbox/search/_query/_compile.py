"""Compile search parameters into SQL conditions over the index tables, for one (env, tenant).

Every condition is an ``id IN (subquery)`` or a correlated EXISTS over a typed index table whose
rows carry env and tenant; chains and ``_has`` nest the same construction on the target type, so
each level is filtered to the caller's env and tenant.
"""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef
from clinikfhir._syntax import Link, SearchSyntaxError, parse_name, split_unescaped, unescape

from .._folds import param_cond, sources
from .._index import local_reference
from .._model import SearchError
from .._schema import TABLES
from .._values import date_range, decimal_value, normalise, precision_range
from ._plan import plan
from ._sql import ROW, Sql, any_of, bad_value, on

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


# The value index each equality driver reads. Named, because without ANALYZE statistics (the sandbox
# never runs it) SQLite prefers the primary key for SELECT DISTINCT and scans every row of the type.
_VALUE_INDEX = {
    "sp_token": " INDEXED BY sp_token_code",
    "sp_string": " INDEXED BY sp_string_value",
    "sp_reference": " INDEXED BY sp_reference_target",
    "sp_uri": " INDEXED BY sp_uri_value",
}


_ROW = ROW
_on = on


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


class Compiler:
    """Turns parameters into SQL for one (env, tenant); collects lenient warnings."""

    def __init__(self, env: str, tenant: str, lenient: bool) -> None:
        self.env = env
        self.tenant = tenant
        self.lenient = lenient
        self.warnings: list[str] = []
        self._n = 0
        self._ctes: list[tuple[str, Sql]] = []
        self._depth = 0
        self._values = 0

    # -- helpers ---------------------------------------------------------------------------------
    def alias(self) -> str:
        self._n += 1
        return f"x{self._n}"

    def cte(self, sub: Sql) -> str:
        """Name a nested id set as a common table expression (keeps the SQL shallow for the parser)."""
        name = f"c{len(self._ctes) + 1}"
        self._ctes.append((name, sub))
        return name

    def wrap(self, query: Sql, *, more: bool = False) -> Sql:
        """Prefix ``query`` with the WITH clause of every nested id set it uses; with ``more`` the
        query itself starts with further common table expressions."""
        parts = [f"{name} AS ({sub.sql})" for name, sub in self._ctes]
        args = [a for _, sub in self._ctes for a in sub.args]
        if not parts and not more:
            return query
        joiner = ", " if parts and more else " "
        return Sql(f"WITH {', '.join(parts)}{joiner}{query.sql}", [*args, *query.args], query.alias)

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
        a = self.alias()
        cond, cargs = param_cond(a, rtype, param)
        head = f"SELECT {a}.id FROM {table} {a} WHERE {a}.env = ? AND {a}.type = ? AND {cond} AND {a}.tenant = ?"
        return a, head, [self.env, rtype, *cargs, self.tenant]

    # -- resource sets ---------------------------------------------------------------------------
    def ids_query(self, rtype: str, terms: Sequence[tuple[str, str]], key: tuple[str, str, str] | None = None) -> Sql:
        """SQL selecting the ids of live resources of ``rtype`` in this env/tenant matching all terms.

        ``key``: the first sort key as (table, param, aggregate on ``{x}``); when a condition reads
        the same rows the plan may also select the key (see :func:`._plan.plan`)."""
        self._depth += 1
        try:
            return self._ids_query(rtype, terms, key)
        finally:
            self._depth -= 1

    def _ids_query(self, rtype: str, terms: Sequence[tuple[str, str]], key: tuple[str, str, str] | None) -> Sql:
        if self._depth > MAX_DEPTH:
            raise SearchError(400, "INVALID_PARAMETER", f"Chains and _has nest deeper than {MAX_DEPTH} levels")
        a = self.alias()
        conds = [c for c in (self.term(rtype, name, value, a) for name, value in terms) if c is not None]
        return plan(a, self.env, rtype, self.tenant, conds, key, self.alias)

    def term(self, rtype: str, name: str, value: str, alias: str) -> Sql | None:
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
                    raise bad_value(name)
                sql = (
                    f"{'NOT ' if value == 'true' else ''}EXISTS (SELECT 1 FROM sp_text t WHERE t.env = {alias}.env "
                    f"AND t.type = {alias}.type AND t.id = {alias}.id AND t.param = ?)"
                )
                return Sql(sql, [code], selective=False)
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
        # Each value's condition is built once, on the placeholder row alias, then placed twice: in a
        # correlated EXISTS checked per candidate, and (for a selective term) as the driver read
        # straight from the index table under the resource's own alias.
        ors: list[str] = []
        cond_args: list[Any] = []
        for raw in values:
            cond = self._value(pdef, name, modifier, raw, _ROW, rtype)
            ors.append(cond.sql)
            cond_args.extend(cond.args)
        match = any_of(ors)
        negate = modifier in ("not", "not-in")
        x = self.alias()
        correlated, param_args = self._correlated(table, x, alias, rtype, param)
        exists = Sql(
            f"{'NOT ' if negate else ''}EXISTS ({correlated} AND ({_on(match, x)}))",
            [*param_args, *cond_args],
        )
        selective = not negate and (
            (pdef.type == "token" and modifier in ("", "of-type"))
            or (pdef.type == "string" and modifier != "contains")
            or pdef.type in ("reference", "uri")
        )
        # dates searched "from" a moment (ge/gt/sa) can drive from the (.., high) index: every match
        # ends after the earliest such bound
        floor = _date_floor(values) if pdef.type == "date" and not modifier else None
        driver: Sql | None = None
        if selective or floor is not None:
            bound = f"AND {alias}.high > ? " if floor is not None else ""
            rows_cond, rows_args = param_cond(alias, rtype, param)
            driver = Sql(
                f"{alias}.env = ? AND {alias}.type = ? AND {rows_cond} AND {alias}.tenant = ? {bound}"
                f"AND ({_on(match, alias)})",
                [self.env, rtype, *rows_args, self.tenant, *([floor] if floor is not None else []), *cond_args],
            )
        return Sql(
            exists.sql,
            exists.args,
            exists=exists,
            selective=selective or floor is not None,
            weak=floor is not None,
            hint=" INDEXED BY sp_date_range" if floor is not None else _VALUE_INDEX.get(table, ""),
            table=table,
            driver=driver,
            rows=None if negate else (table, param, Sql(match, list(cond_args))),
        )

    @staticmethod
    def _correlated(table: str, x: str, alias: str, rtype: str, param: str) -> tuple[str, list[Any]]:
        """The rows of ``param`` of the resource ``alias`` (see :func:`.._folds.param_cond`)."""
        cond, args = param_cond(x, rtype, param)
        sql = (
            f"SELECT 1 FROM {table} {x} WHERE {x}.env = {alias}.env AND {x}.type = {alias}.type "
            f"AND {x}.id = {alias}.id AND {cond}"
        )
        return sql, args

    def _last_updated(self, name: str, modifier: str, value: str, alias: str) -> Sql | None:
        """``_lastUpdated`` on sp_resource.lu, the stored instant taken as a point (the sandbox stamps
        microseconds), so every prefix is a range on the (env, type, tenant, lu) index."""
        if modifier == "missing":
            if value not in ("true", "false"):
                raise bad_value(name)
            test = "IS NULL" if value == "true" else "IS NOT NULL"
            direct = Sql(f"{alias}.lu {test}")
            exists = Sql(
                f"EXISTS (SELECT 1 FROM sp_resource s WHERE s.env = {alias}.env AND s.type = {alias}.type "
                f"AND s.id = {alias}.id AND s.lu {test})"
            )
            return Sql(exists.sql, exists.args, exists=exists, selective=False, direct=direct)
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
        direct = Sql("(" + any_of(ors) + ")", args)
        exists = Sql(
            f"EXISTS (SELECT 1 FROM sp_resource s WHERE s.env = {alias}.env AND s.type = {alias}.type "
            f"AND s.id = {alias}.id AND (" + any_of(inner) + "))",
            list(args),
        )
        return Sql(exists.sql, exists.args, exists=exists, selective=False, direct=direct)

    def _list(self, rtype: str, name: str, modifier: str, value: str, alias: str) -> Sql | None:
        """``_list=id[,id]``: resources that are items of one of the caller's List resources."""
        if modifier:
            self.unsupported(name, "Search modifier not supported")
            return None
        ids = [unescape(v) for v in self.alternatives(name, value)]
        if not all(ids) or any(i.startswith("$") for i in ids):
            raise bad_value(name)
        x = self.alias()
        marks = ", ".join("?" * len(ids))
        item, item_args = param_cond(x, "List", "item")
        sql = (
            f"{alias}.id IN (SELECT {x}.ref_id FROM sp_reference {x} WHERE {x}.env = ? AND {x}.type = 'List' "
            f"AND {x}.id IN ({marks}) AND {item} AND {x}.tenant = ? AND {x}.ref_type = ?)"
        )
        return Sql(sql, [self.env, *ids, *item_args, self.tenant, rtype])

    def _near(self, name: str, value: str, alias: str) -> Sql:
        """``near=lat|long[|distance[|units]]`` (km by default; m, km, mi): within the distance of the
        point, by the equirectangular approximation (good to well under 1% below a few hundred km;
        no wrap at the antimeridian). Without a distance, 10 km."""
        ors: list[str] = []
        args: list[Any] = []
        for raw in self.alternatives(name, value):
            pieces = [unescape(p) for p in split_unescaped(raw, "|")]
            if not 2 <= len(pieces) <= 4:
                raise bad_value(name)
            lat, lon = search_number(pieces[0]), search_number(pieces[1])
            dist = search_number(pieces[2]) if len(pieces) > 2 and pieces[2] else Decimal(10)
            unit = pieces[3] if len(pieces) > 3 and pieces[3] else "km"
            if lat is None or lon is None or dist is None or dist < 0 or unit not in _DISTANCE_UNITS:
                raise bad_value(name)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise bad_value(name)
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
        return Sql(sql, args, selective=False)

    def _full_text(self, name: str, code: str, value: str, alias: str) -> Sql:
        """``_content``/``_text``: every word of one of the (comma-separated) values occurs in the
        resource's normalised text, case- and accent-insensitively."""
        ors: list[str] = []
        args: list[Any] = [code]
        for raw in self.alternatives(name, value):
            words = normalise(unescape(raw)).split()
            if not words:
                raise bad_value(name)
            ors.append(" AND ".join("instr(t.content, ?) > 0" for _ in words))
            args.extend(words)
        sql = (
            f"EXISTS (SELECT 1 FROM sp_text t WHERE t.env = {alias}.env AND t.type = {alias}.type "
            f"AND t.id = {alias}.id AND t.param = ? AND (" + any_of(ors) + "))"
        )
        return Sql(sql, args, selective=False)

    def _modifier_ok(self, pdef: ParamDef, modifier: str) -> bool:
        if pdef.code == "_id":
            return modifier in ID_MODIFIERS
        if modifier in MODIFIERS.get(pdef.type, ()):
            return True
        return pdef.type == "reference" and modifier in pdef.targets

    def _ids(self, alias: str, name: str, modifier: str, values: list[str]) -> Sql:
        ids = [unescape(v) for v in values]
        if any(not v for v in ids):
            raise bad_value(name)
        if modifier == "text":  # an id has no text (display) to match
            return Sql("0", selective=False)
        if modifier in ("in", "not-in"):
            from .._valuesets import value_set_codes  # lazy: the value-set table is large (start-up time)

            codes: set[str] = set()
            for url in ids:
                found = value_set_codes(url)
                if found is None:
                    raise SearchError(400, "INVALID_PARAMETER", f"Unknown value set for search parameter '{name}'")
                codes.update(code for _, code in found)
            negate = modifier == "not-in"
            return Sql(
                f"{alias}.id {'NOT IN' if negate else 'IN'} (SELECT value FROM json_each(?))",
                [json.dumps(sorted(codes))],
                selective=False,
            )
        marks = ", ".join("?" * len(ids))
        negate = modifier == "not"
        return Sql(f"{alias}.id {'NOT IN' if negate else 'IN'} ({marks})", ids)

    def _missing(self, rtype: str, pdef: ParamDef, name: str, value: str, alias: str) -> Sql | None:
        if value not in ("true", "false"):
            raise bad_value(name)
        if pdef.code == "_id":  # every resource has an id
            return Sql("0" if value == "true" else "1", selective=False)
        if pdef.type == "composite":
            table = TABLES.get(_component_kind(rtype, pdef, 0), "sp_token")
            param = pdef.code + "#0"
        elif pdef.code == "near":
            table, param = "sp_number", "near#lat"
        else:
            table, param = TABLES[pdef.type], pdef.code
        x, head, args = self._rows(table, rtype, param)
        absent = value == "true"
        correlated, param_args = self._correlated(table, x, alias, rtype, param)
        exists = Sql(f"{'NOT ' if absent else ''}EXISTS ({correlated})", param_args)
        return Sql(f"{alias}.id {'NOT IN' if absent else 'IN'} ({head})", args, exists=exists, selective=False)

    # -- per-kind value conditions on one index row --------------------------------------------------
    def _value(self, pdef: ParamDef, name: str, modifier: str, raw: str, x: str, rtype: str) -> Sql:
        kind = pdef.type
        if kind == "token":
            return self._token(pdef, name, modifier, raw, x)
        if kind == "string":
            text = unescape(raw)
            if modifier == "exact":
                return Sql(f"{x}.raw = ?", [text])
            norm = normalise(text)
            if modifier == "contains":
                return Sql(f"instr({x}.value, ?) > 0", [norm])
            return Sql(f"{x}.value >= ? AND {x}.value < ?", [norm, norm + _TOP])
        if kind == "date":
            return self._date(name, raw, x)
        if kind in ("number", "quantity"):
            return self._number(name, raw, x, quantity=kind == "quantity")
        if kind == "reference":
            return self._reference(pdef, name, modifier, raw, x, rtype)
        if kind == "uri":
            uri = unescape(raw)
            if modifier == "below":
                return Sql(f"substr({x}.uri, 1, ?) = ?", [len(uri), uri])
            if modifier == "above":
                return Sql(f"substr(?, 1, length({x}.uri)) = {x}.uri", [uri])
            return Sql(f"{x}.uri = ?", [uri])
        raise bad_value(name)  # pragma: no cover - kinds are exhaustive

    def _token(self, pdef: ParamDef, name: str, modifier: str, raw: str, x: str) -> Sql:
        if modifier == "text":  # R4: processed as a string search, i.e. the text starts with the value
            norm = normalise(unescape(raw))
            return Sql(f"{x}.text >= ? AND {x}.text < ?", [norm, norm + _TOP])
        if modifier in ("in", "not-in"):
            return self._in_value_set(name, unescape(raw), x)
        pieces = split_unescaped(raw, "|")
        if modifier == "of-type":
            if len(pieces) != 3 or not pieces[1] or not pieces[2]:
                raise bad_value(name)
            tsys, tcode, val = (unescape(p) for p in pieces)
            return Sql(f"{x}.system IS ? AND {x}.code = ? AND {x}.text = ?", [tsys or None, tcode, val])
        if len(pieces) > 2:
            raise bad_value(name)
        if len(pieces) == 1:
            code = unescape(pieces[0])
            if not code:
                raise bad_value(name)
            return Sql(f"{x}.code = ?", [code])
        system, code = unescape(pieces[0]), unescape(pieces[1])
        if not system and not code:
            raise bad_value(name)
        if not system:
            return Sql(f"{x}.system IS NULL AND {x}.code = ?", [code])
        if not code:
            return Sql(f"{x}.system = ?", [system])
        return Sql(f"{x}.system = ? AND {x}.code = ?", [system, code])

    def _in_value_set(self, name: str, url: str, x: str) -> Sql:
        from .._valuesets import value_set_codes  # lazy: the value-set table is large (start-up time)

        codes = value_set_codes(url)
        if codes is None:
            raise SearchError(400, "INVALID_PARAMETER", f"Unknown value set for search parameter '{name}'")

        pairs = json.dumps(sorted(f"{s}|{c}" for s, c in codes))
        bare = json.dumps(sorted({c for _, c in codes}))
        return Sql(
            f"(({x}.system IS NOT NULL AND {x}.system || '|' || {x}.code IN (SELECT value FROM json_each(?)))"
            f" OR ({x}.system IS NULL AND {x}.code IN (SELECT value FROM json_each(?))))",
            [pairs, bare],
        )

    def _date(self, name: str, raw: str, x: str) -> Sql:
        prefix, text = _prefix(unescape(raw))
        rng = date_range(text)
        if rng is None:
            raise bad_value(name)
        pl, ph = rng
        lo, hi = f"{x}.low", f"{x}.high"
        if prefix == "eq":
            return Sql(f"{lo} >= ? AND {hi} <= ?", [pl, ph])
        if prefix == "ne":
            return Sql(f"NOT ({lo} >= ? AND {hi} <= ?)", [pl, ph])
        if prefix == "gt":
            return Sql(f"{hi} > ?", [ph])
        if prefix == "lt":
            return Sql(f"{lo} < ?", [pl])
        if prefix == "ge":
            return Sql(f"({lo} >= ? OR {hi} > ?)", [pl, ph])
        if prefix == "le":
            return Sql(f"({hi} <= ? OR {lo} < ?)", [ph, pl])
        if prefix == "sa":
            return Sql(f"{lo} >= ?", [ph])
        if prefix == "eb":
            return Sql(f"{hi} <= ?", [pl])
        # ap: the search range widened by 10% of its distance from now (at least its own width)
        now = int(time.time() * 1_000_000)
        delta = max(abs(now - pl) // 10, ph - pl)
        return Sql(f"{lo} < ? AND {hi} > ?", [ph + delta, pl - delta])

    def _number(self, name: str, raw: str, x: str, *, quantity: bool) -> Sql:
        pieces = split_unescaped(raw, "|") if quantity else [raw]
        if len(pieces) not in (1, 3):
            raise bad_value(name)
        prefix, text = _prefix(unescape(pieces[0]))
        number = search_number(text)
        if number is None:
            raise bad_value(name)
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

    def _reference(self, pdef: ParamDef, name: str, modifier: str, raw: str, x: str, rtype: str) -> Sql:
        ref = unescape(raw)
        if not ref:
            raise bad_value(name)
        if modifier == "identifier":
            pieces = split_unescaped(raw, "|")
            if len(pieces) == 1:
                return Sql(f"{x}.code = ?", [unescape(pieces[0])])
            if len(pieces) != 2:
                raise bad_value(name)
            system, code = unescape(pieces[0]), unescape(pieces[1])
            if system and code:
                return Sql(f"{x}.system = ? AND {x}.code = ?", [system, code])
            if code:
                return Sql(f"{x}.system IS NULL AND {x}.code = ?", [code])
            return Sql(f"{x}.system = ?", [system])
        if "://" in ref or ref.startswith(("urn:", "#")):
            url, _, version = ref.partition("|")
            url = url.split("/_history/")[0]
            local = local_reference(url) if not version else None
            if local is not None:  # the sandbox's own base: the same resource as ``Type/id``
                if modifier and modifier != local[0]:
                    raise bad_value(name)
                return Sql(f"{x}.ref_type = ? AND {x}.ref_id = ?", [local[0], local[1]])
            if version:
                return Sql(f"{x}.ref_id IS NULL AND {x}.url = ? AND {x}.version = ?", [url, version])
            return Sql(f"{x}.ref_id IS NULL AND {x}.url = ?", [url])
        pieces = ref.split("/_history/")[0].split("/")
        if len(pieces) == 2:
            rtarget, rid = pieces
            if rtarget not in SEARCH_PARAMETERS or (modifier and modifier != rtarget):
                raise bad_value(name)
            return Sql(f"{x}.ref_type = ? AND {x}.ref_id = ?", [rtarget, rid])
        if len(pieces) != 1:
            raise bad_value(name)
        if modifier:
            return Sql(f"{x}.ref_type = ? AND {x}.ref_id = ?", [modifier, ref])
        return Sql(f"{x}.ref_id = ?", [ref])

    # -- chains, _has, composites --------------------------------------------------------------
    def _chain(self, rtype: str, name: str, link: Link, tail: str, value: str, alias: str) -> Sql | None:
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
            ors.append(f"({x}.ref_type = ? AND {x}.ref_id IN {self.cte(ids)})")
            args.append(target)
        return Sql(f"{alias}.id IN ({head_sql} AND ({' OR '.join(ors)}))", args)

    def _has(self, rtype: str, name: str, link: Link, tail: str, value: str, alias: str) -> Sql | None:
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
        x = self.alias()
        ref, ref_args = param_cond(x, src, ref_code)
        sql = (
            f"{alias}.id IN (SELECT {x}.ref_id FROM sp_reference {x} WHERE {x}.env = ? AND {x}.type = ? "
            f"AND {ref} AND {x}.tenant = ? AND {x}.ref_type = ? AND {x}.id IN {self.cte(inner)})"
        )
        return Sql(sql, [self.env, src, *ref_args, self.tenant, rtype])

    def _composite(self, rtype: str, pdef: ParamDef, name: str, values: list[str], alias: str) -> Sql:
        params = SEARCH_PARAMETERS[rtype]
        comps = [params.get(code) for code, _ in pdef.components]
        if any(c is None or c.type not in TABLES for c in comps):
            raise SearchError(400, "INVALID_PARAMETER", f"Search parameter not supported: '{name}'")
        ors: list[str] = []
        args: list[Any] = []
        for raw in values:
            pieces = split_unescaped(raw, "$")
            if len(pieces) != len(comps):
                raise bad_value(name)
            aliases = [self.alias() for _ in comps]
            first = aliases[0]
            frm = [f"{TABLES[comps[0].type]} {first}"]  # type: ignore[union-attr]
            head, head_args = param_cond(first, rtype, f"{pdef.code}#0")
            where = [f"{first}.env = ?", f"{first}.type = ?", f"{first}.tenant = ?", head]
            wargs: list[Any] = [self.env, rtype, self.tenant, *head_args]
            jargs: list[Any] = []
            # the composites whose rows this one reads (see .._folds): a component row joins the
            # first component's row of the same composite and group
            bases = [pdef.code, *(s.param.removesuffix("#0") for s in sources(rtype, f"{pdef.code}#0"))]
            for n, (comp, piece, a) in enumerate(zip(comps, pieces, aliases, strict=True)):
                assert comp is not None
                if n > 0:
                    if len(bases) == 1:
                        pair = "?"
                        jargs.append(f"{pdef.code}#{n}")
                    else:
                        pair = f"CASE {first}.param" + " WHEN ? THEN ?" * len(bases) + " END"
                        for base in bases:
                            jargs.extend([f"{base}#0", f"{base}#{n}"])
                    frm.append(
                        f"JOIN {TABLES[comp.type]} {a} ON {a}.env = {first}.env AND {a}.type = {first}.type "
                        f"AND {a}.id = {first}.id AND {a}.grp = {first}.grp AND {a}.param = {pair}"
                    )
                cond = self._value(comp, name, "", piece, a, rtype)
                where.append(f"({cond.sql})")
                wargs.extend(cond.args)
            ors.append(f"SELECT {first}.id FROM " + " ".join(frm) + " WHERE " + " AND ".join(where))
            args.extend(jargs + wargs)
        return Sql(f"{alias}.id IN ({' UNION '.join(ors)})", args)


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


def _instant_cond(name: str, raw: str, col: str) -> Sql:
    """A date search value against a stored instant ``col`` taken as a point in time."""
    prefix, text = _prefix(unescape(raw))
    rng = date_range(text)
    if rng is None:
        raise bad_value(name)
    pl, ph = rng
    if prefix == "eq":
        return Sql(f"{col} >= ? AND {col} < ?", [pl, ph])
    if prefix == "ne":
        return Sql(f"NOT ({col} >= ? AND {col} < ?)", [pl, ph])
    if prefix in ("gt", "sa"):
        return Sql(f"{col} >= ?", [ph])
    if prefix in ("lt", "eb"):
        return Sql(f"{col} < ?", [pl])
    if prefix == "ge":
        return Sql(f"{col} >= ?", [pl])
    if prefix == "le":
        return Sql(f"{col} < ?", [ph])
    now = int(time.time() * 1_000_000)
    delta = max(abs(now - pl) // 10, ph - pl)
    return Sql(f"{col} >= ? AND {col} < ?", [pl - delta, ph + delta])


def _number_cond(prefix: str, number: Decimal, x: str) -> Sql:
    lo, hi = f"{x}.low", f"{x}.high"
    v = float(number)
    if prefix in ("eq", "ne"):
        pl, ph = precision_range(number)
        cond = f"{lo} >= ? AND {hi} < ?"
        return Sql(cond if prefix == "eq" else f"NOT ({cond})", [pl, ph])
    if prefix == "gt":
        return Sql(f"{hi} > ?", [v])
    if prefix == "lt":
        return Sql(f"{lo} < ?", [v])
    if prefix == "ge":
        return Sql(f"{hi} >= ?", [v])
    if prefix == "le":
        return Sql(f"{lo} <= ?", [v])
    if prefix == "sa":
        return Sql(f"{lo} > ?", [v])
    if prefix == "eb":
        return Sql(f"{hi} < ?", [v])
    delta = abs(v) * 0.1
    return Sql(f"{lo} <= ? AND {hi} >= ?", [v + delta, v - delta])


# -- what is supported ---------------------------------------------------------------------------
def supported(pdef: ParamDef, params: dict[str, ParamDef]) -> bool:
    """Whether the engine indexes and matches ``pdef`` (of a type whose parameters are ``params``)."""
    if pdef.code in TEXT_PARAMS:
        return pdef.type == "string"
    if pdef.code == "near":
        return pdef.type == "special" and bool(pdef.expression)
    if not pdef.expression:
        return False
    if pdef.type == "composite":
        comps = [params.get(code) for code, _ in pdef.components]
        return bool(comps) and all(c is not None and c.type in TABLES for c in comps)
    return pdef.type in TABLES


@functools.cache
def revincludes() -> dict[str, tuple[str, ...]]:
    """Target type -> every ``Source:param`` reference parameter that can point at it."""
    out: dict[str, list[str]] = {}
    for source in sorted(SEARCH_PARAMETERS):
        params = SEARCH_PARAMETERS[source]
        for code in sorted(params):
            pdef = params[code]
            if pdef.type == "reference" and supported(pdef, params):
                for target in pdef.targets:
                    out.setdefault(target, []).append(f"{source}:{code}")
    return {target: tuple(values) for target, values in out.items()}


def revinclude_pairs(type: str) -> tuple[str, ...]:
    """Every ``Source:param`` whose reference parameter can point at ``type``."""
    return revincludes().get(type, ())
