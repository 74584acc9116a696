"""Index on write: turn one resource into typed index rows for every search parameter of its type."""

from __future__ import annotations

import functools
import html
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef

from ._folds import Folds, type_folds
from ._json import is_list, is_obj, items
from ._paths import Evaluator, Item, compile_expression, parse_branch, split_union, start_keys
from ._schema import COLUMNS, DDL, SCHEMA_VERSION, TABLES
from ._values import MAX_NUMBER, MAX_TIME, MIN_NUMBER, MIN_TIME, date_range, decimal_value, normalise

_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")

Rows = dict[str, list[tuple[Any, ...]]]


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif is_list(value):
        for v in value:
            _strings(v, out)
    elif is_obj(value):
        if "family" in value or "given" in value:
            parts: tuple[str, ...] = _NAME_PARTS
        elif any(k in value for k in ("line", "city", "postalCode", "country", "state", "district")):
            parts = _ADDRESS_PARTS
        else:
            parts = tuple(k for k in value if k not in ("extension", "id", "system", "use", "url"))
        for key in parts:
            _strings(value.get(key), out)


def _text(value: object) -> str | None:
    """A JSON string, or a number rendered as text; None for anything else (lists, objects, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def token_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """Token rows (system, code, normalised text) for code, boolean, Coding, CodeableConcept,
    Identifier (plus its ``:of-type`` rows) and ContactPoint values."""
    value, kind = item
    rows = out["sp_token"]
    if isinstance(value, bool):
        rows.append((param, grp, None, "true" if value else "false", None))
    elif isinstance(value, str | int):
        rows.append((param, grp, None, str(value), None))
    elif is_obj(value):
        if "code" in value and "coding" not in value and "value" not in value and kind != "CodeableConcept":
            _coding_row(param, grp, value, rows)  # a Coding (meta.tag, Encounter.class): the last case below
        elif "coding" in value or (kind == "CodeableConcept") or (set(value) <= {"text", "extension", "id"}):
            for coding in items(value.get("coding")):
                if is_obj(coding):
                    _coding_row(param, grp, coding, rows)
            text = value.get("text")
            if isinstance(text, str):
                rows.append((param, grp, None, None, normalise(text)))
        elif _text(value.get("value")) is not None and (
            kind == "ContactPoint" or (_text(value.get("system")) in _CONTACT_SYSTEMS and "type" not in value)
        ):
            rows.append((param, grp, _text(value.get("system")), _text(value["value"]), None))
        elif isinstance(value.get("value"), str):
            system, code = _text(value.get("system")), _text(value.get("value"))
            type_cc = value.get("type")
            text = type_cc.get("text") if is_obj(type_cc) else None
            rows.append((param, grp, system, code, normalise(text) if isinstance(text, str) else None))
            if is_obj(type_cc):
                for coding in items(type_cc.get("coding")):
                    type_code = _text(coding.get("code")) if is_obj(coding) else None
                    if is_obj(coding) and type_code:
                        # :of-type rows: system/code of the identifier type, the raw value as text
                        rows.append((param + ":of-type", grp, _text(coding.get("system")), type_code, code))
        elif "code" in value or "system" in value:
            _coding_row(param, grp, value, rows)


def _coding_row(param: str, grp: int, coding: dict[str, Any], rows: list[tuple[Any, ...]]) -> None:
    display = coding.get("display")
    rows.append(
        (
            param,
            grp,
            _text(coding.get("system")),
            _text(coding.get("code")),
            normalise(display) if isinstance(display, str) else None,
        )
    )


def string_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """String rows: each string part (name parts, address parts, or all string leaves)."""
    parts: list[str] = []
    _strings(item[0], parts)
    for text in parts:
        out["sp_string"].append((param, grp, normalise(text), text))


def date_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """Date rows [low, high) for date, dateTime, instant, Period and Timing values."""
    value, _ = item
    rows = out["sp_date"]
    if isinstance(value, str):
        rng = date_range(value)
        if rng is not None:
            rows.append((param, grp, rng[0], rng[1]))
    elif is_obj(value):
        if "start" in value or "end" in value:
            start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
            end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
            if start is not None or end is not None:
                rows.append((param, grp, start[0] if start else MIN_TIME, end[1] if end else MAX_TIME))
        for event in items(value.get("event")):
            if isinstance(event, str):
                rng = date_range(event)
                if rng is not None:
                    rows.append((param, grp, rng[0], rng[1]))
        repeat = value.get("repeat")
        if is_obj(repeat) and is_obj(repeat.get("boundsPeriod")):
            date_rows(param, grp, (repeat["boundsPeriod"], "Period"), out)


def _number_bounds(value: Any) -> tuple[float, float] | None:
    if is_obj(value):
        if "low" in value or "high" in value:  # Range
            low = _number_bounds(value.get("low")) if value.get("low") is not None else None
            high = _number_bounds(value.get("high")) if value.get("high") is not None else None
            if low is None and high is None:
                return None
            return (low[0] if low else MIN_NUMBER, high[1] if high else MAX_NUMBER)
        value = value.get("value")
    number = decimal_value(value)
    if number is None:
        return None
    return float(number), float(number)


def number_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """Number rows: the value as a closed interval [low, high] (a point, or a Range's bounds)."""
    bounds = _number_bounds(item[0])
    if bounds is not None:
        out["sp_number"].append((param, grp, bounds[0], bounds[1]))


def quantity_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """Quantity rows: value bounds, system, code and unit (Quantity, Age, Duration, Money, Range)."""
    value, _ = item
    if not is_obj(value):
        return
    bounds = _number_bounds(value)
    if bounds is None:
        return
    source: dict[str, Any] = value
    if "low" in value or "high" in value:
        bound = value.get("low") or value.get("high")
        source = bound if is_obj(bound) else {}
    system, code, unit = _text(source.get("system")), _text(source.get("code")), _text(source.get("unit"))
    if "currency" in source:
        system, code = "urn:iso:std:iso:4217", _text(source.get("currency"))
    out["sp_quantity"].append((param, grp, bounds[0], bounds[1], system, code, unit))


# A reference on the sandbox's own base (in-process or served, any host and port): an absolute URL
# whose path ends in /v1/fhir/<Type>/<id>, optionally /_history/<vid>.
_LOCAL_RE = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(?:/[^?#]*)?/v1/fhir/([A-Z][A-Za-z]+)/([A-Za-z0-9.-]{1,64})$"
)


def local_reference(url: str) -> tuple[str, str] | None:
    """(type, id) when the absolute ``url`` (no ``/_history`` suffix) names a resource on the
    sandbox's own base ``[base]/v1/fhir/<Type>/<id>`` with a known R4 type; else None."""
    match = _LOCAL_RE.match(url)
    if match is None or match.group(1) not in SEARCH_PARAMETERS:
        return None
    return match.group(1), match.group(2)


def split_reference(ref: str) -> tuple[str | None, str | None, str]:
    """(type, id, url) of a reference string: type/id for relative ``Type/id`` references and for
    absolute URLs on the sandbox's own base (see :func:`local_reference`); url is the reference as
    written (absolute forms kept, for searches by full URL) without any ``/_history/n`` suffix."""
    url = ref.split("/_history/")[0]
    if "://" in url:
        local = local_reference(url)
        if local is not None:
            return local[0], local[1], url
    elif not url.startswith(("urn:", "#")):
        pieces = url.split("/")
        if len(pieces) == 2 and pieces[0][:1].isupper() and pieces[1]:
            return pieces[0], pieces[1], url
    return None, None, url


def reference_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """Reference rows (type, id, url, version); canonical strings keep url and version apart;
    a Reference.identifier also gives a token row for ``:identifier``."""
    value, _ = item
    rows = out["sp_reference"]
    if isinstance(value, str):
        url, _, version = value.partition("|")
        rtype, rid, plain = split_reference(url)
        rows.append((param, grp, rtype, rid, plain, version or None))
        return
    if not is_obj(value):
        return
    ref = value.get("reference")
    if isinstance(ref, str) and ref:
        rtype, rid, url = split_reference(ref)
        rows.append((param, grp, rtype, rid, url, None))
    else:  # identifier- or display-only: present (for :missing) but matches no target
        rows.append((param, grp, None, None, None, None))
    ident = value.get("identifier")
    if is_obj(ident) and _text(ident.get("value")) is not None:
        out["sp_token"].append((param + ":identifier", grp, _text(ident.get("system")), _text(ident["value"]), None))


def uri_rows(param: str, grp: int, item: Item, out: Rows) -> None:
    """URI rows (uri, url, canonical, oid, uuid values)."""
    value, _ = item
    if isinstance(value, str):
        out["sp_uri"].append((param, grp, value))


RowMaker = Callable[[str, int, Item, Rows], None]

KIND_ROWS: dict[str, RowMaker] = {
    "token": token_rows,
    "string": string_rows,
    "date": date_rows,
    "number": number_rows,
    "quantity": quantity_rows,
    "reference": reference_rows,
    "uri": uri_rows,
}


Guard = frozenset[str] | None
"""JSON keys of the resource one of which must be present for a parameter to yield anything (None:
evaluate it on every resource)."""
Simple = tuple[str, RowMaker, Evaluator, Guard]
Composite = tuple[str, Evaluator, tuple[tuple[RowMaker, Evaluator], ...], tuple[tuple[frozenset[str], ...], ...] | None]


@dataclass(frozen=True, slots=True)
class Plan:
    """How to index one resource type, compiled once: per parameter its row maker, its evaluator and
    the JSON keys a resource must have for the parameter to yield anything."""

    simple: tuple[Simple, ...]
    """(code, row maker, evaluator, guard)."""
    composites: tuple[Composite, ...]
    """(code, evaluator of the elements, (row maker, evaluator) of each component, guard): the guard
    lists alternatives, each a list of key sets that must all meet the resource's keys; None: always."""
    near: Evaluator | None
    """Location's ``near`` position, when the type has it."""
    selected: dict[frozenset[str], tuple[tuple[Simple, ...], tuple[Composite, ...]]] = field(
        default_factory=lambda: {}, compare=False
    )
    """The parameters worth evaluating on a resource with these JSON keys (see :func:`_select`), for
    the key sets seen so far (at most :data:`_MAX_SELECTED`)."""


_MAX_SELECTED = 256
"""Key sets whose selection a plan remembers: resources of one type share a few shapes; past this
many (odd shapes), a selection is computed each time."""


def _select(plan: Plan, present: frozenset[str]) -> tuple[tuple[Simple, ...], tuple[Composite, ...]]:
    """The simple parameters and composites of ``plan`` whose guards the resource keys ``present``
    meet (the others cannot yield a row), computed once per key set."""
    selected = plan.selected.get(present)
    if selected is None:
        simple = tuple(s for s in plan.simple if s[3] is None or not s[3].isdisjoint(present))
        composites = tuple(c for c in plan.composites if c[3] is None or _may_yield(c[3], present))
        selected = (simple, composites)
        if len(plan.selected) < _MAX_SELECTED:
            plan.selected[present] = selected
    return selected


def _composite_guard(pdef: ParamDef, expression: str) -> tuple[tuple[frozenset[str], ...], ...] | None:
    """When a composite can yield rows: per branch of its element expression (``expression``), the
    resource itself as the element needs every component's keys, a path from the resource needs its
    own keys."""
    alternatives: list[tuple[frozenset[str], ...]] = []
    for branch in split_union(expression):
        steps = parse_branch(branch)
        if steps is not None and len(steps) == 1 and steps[0][0] == "root":  # the resource itself
            needs = [start_keys(expr, relative=True) for _, expr in pdef.components]
            if any(keys is None for keys in needs):
                return None
            alternatives.append(tuple(keys for keys in needs if keys is not None))
        else:
            keys = start_keys(branch)
            if keys is None:
                return None
            alternatives.append((keys,))
    return tuple(alternatives)


def _except_ref_type(ref_type: str) -> RowMaker:
    """Reference rows without the one pointing at ``ref_type`` (its source parameter holds it, see
    :mod:`._folds`); a Reference.identifier's token row stays."""

    def rows_for(param: str, grp: int, item: Item, out: Rows) -> None:
        refs = out["sp_reference"]
        n = len(refs)
        reference_rows(param, grp, item, out)
        if len(refs) > n and refs[n][2] == ref_type:
            del refs[n]

    return rows_for


def _own_expression(code: str, pdef: ParamDef, folds: Folds | None) -> str:
    """What the plan evaluates for ``code``: its expression without the branches its sources hold
    (empty when they hold every branch)."""
    if folds is not None and code in folds.branches:
        return " | ".join(folds.branches[code])
    return pdef.expression


def build_plan(params: dict[str, ParamDef], folds: Folds | None = None) -> Plan:
    """The extraction plan of a table of parameters (see :class:`Plan`); with ``folds`` (the table's
    :func:`._folds.compute_folds`), without the rows a folded parameter's sources hold."""
    simple: list[Simple] = []
    for code, pdef in params.items():
        rows_for = KIND_ROWS.get(pdef.type)
        # _id and _lastUpdated are matched on the resource's own row (sp_resource)
        if pdef.expression and code not in ("_id", "_lastUpdated") and rows_for is not None:
            expression = _own_expression(code, pdef, folds)
            if not expression:
                continue  # every row is a source's
            if folds is not None and code in folds.dropped:
                rows_for = _except_ref_type(folds.dropped[code])
            simple.append((code, rows_for, compile_expression(expression), start_keys(expression)))
    composites: list[Composite] = []
    for pdef in params.values():
        if pdef.type != "composite" or not pdef.expression:
            continue
        expression = _own_expression(pdef.code, pdef, folds)
        if not expression:
            continue
        parts: list[tuple[RowMaker, Evaluator]] = []
        for comp_code, comp_expr in pdef.components:
            comp = params.get(comp_code)
            rows_for = KIND_ROWS.get(comp.type) if comp is not None else None
            if rows_for is None:
                break  # a component of an unindexed kind: nothing can match the composite
            parts.append((rows_for, compile_expression(comp_expr)))
        else:
            guard = _composite_guard(pdef, expression)
            composites.append((pdef.code, compile_expression(expression), tuple(parts), guard))
    near = params.get("near")
    near_eval = (
        compile_expression(near.expression) if near is not None and near.type == "special" and near.expression else None
    )
    return Plan(tuple(simple), tuple(composites), near_eval)


@functools.cache
def _type_plan(rtype: str) -> Plan:
    return build_plan(SEARCH_PARAMETERS[rtype], type_folds(rtype))


def extract(resource: dict[str, Any], params: dict[str, ParamDef]) -> Rows:
    """Every index row of one resource, grouped by table (rows lack env/tenant/type/id); for an R4
    type's own table, without the rows a folded parameter's sources hold (see :mod:`._folds`)."""
    rtype = resource.get("resourceType")
    if isinstance(rtype, str) and params is SEARCH_PARAMETERS.get(rtype):
        plan = _type_plan(rtype)
    else:
        plan = build_plan(params)
    return extract_with(resource, plan)


def _may_yield(alternatives: tuple[tuple[frozenset[str], ...], ...], present: frozenset[str]) -> bool:
    return any(all(not keys.isdisjoint(present) for keys in needs) for needs in alternatives)


def _without_repeated_text(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Token rows without the text-only rows (no system, no code: a CodeableConcept's ``text``) whose
    text another row of the same parameter and group already carries (a coding's display, usually the
    same words). Only ``:text`` reads a text-only row (every other token condition compares codes,
    and a parameter keeps a row either way for ``:missing``), and ``:text`` then finds the same words
    on the other row, so every search answers the same with fewer rows to write."""
    texts = {(row[0], row[1], row[4]) for row in rows if row[4] is not None and row[3] is not None}
    if not texts and len(rows) < 2:
        return rows
    kept: list[tuple[Any, ...]] = []
    for row in rows:
        if row[2] is None and row[3] is None and row[4] is not None:
            key = (row[0], row[1], row[4])
            if key in texts:
                continue
            texts.add(key)
        kept.append(row)
    return kept


def extract_with(resource: dict[str, Any], plan: Plan, *, skip_absent: bool = True, every_text: bool = False) -> Rows:
    """The index rows of ``resource`` by ``plan``; a parameter that starts from elements the resource
    lacks is not evaluated (``skip_absent=False`` evaluates every parameter, for tests). A text-only
    token row that repeats the text of another row of its parameter is left out (see
    :func:`_without_repeated_text`; ``every_text=True`` keeps it, for tests)."""
    out: Rows = {table: [] for table in TABLES.values()}
    simple, composites = _select(plan, frozenset(resource)) if skip_absent else (plan.simple, plan.composites)
    for code, rows_for, evaluate, _ in simple:
        for item in evaluate(resource, None):
            rows_for(code, 0, item, out)
    for code, foci, parts, _ in composites:
        for grp, (focus, _) in enumerate(foci(resource, None), start=1):
            # an element is indexed only when every component has a value (else nothing can match)
            values: list[list[Item]] = [evaluate(resource, focus) for _, evaluate in parts]
            if not all(values):
                continue
            for n, ((rows_for, _), found) in enumerate(zip(parts, values, strict=True)):
                for item in found:
                    rows_for(f"{code}#{n}", grp, item, out)
    if plan.near is not None:
        for grp, (position, _) in enumerate(plan.near(resource, None), start=1):
            lat = decimal_value(position.get("latitude")) if is_obj(position) else None
            lon = decimal_value(position.get("longitude")) if is_obj(position) else None
            if lat is not None and lon is not None:
                out["sp_number"].append(("near#lat", grp, float(lat), float(lat)))
                out["sp_number"].append(("near#long", grp, float(lon), float(lon)))
    if not every_text:
        out["sp_token"] = _without_repeated_text(out["sp_token"])
    return out


_TAG_RE = re.compile(r"<[^>]*>")
_SKIP_CONTENT = frozenset({"meta", "text", "id", "resourceType"})


def _inner_leaves(container: Any, out: list[str]) -> None:
    """Append every string inside the JSON list or object ``container`` to ``out``, in document
    order (one call per list or object; a string is appended in place)."""
    values: Any = container.values() if isinstance(container, dict) else container  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    v: Any
    for v in values:
        kind = type(v)  # pyright: ignore[reportUnknownVariableType]
        if kind is str:
            out.append(v)
        elif kind is dict or kind is list:
            _inner_leaves(v, out)
        elif isinstance(v, str):  # subclasses (numbers, booleans and nulls hold no string)
            out.append(v)
        elif isinstance(v, list | dict):
            _inner_leaves(v, out)


def full_text(resource: dict[str, Any], params: dict[str, ParamDef]) -> list[tuple[str, str]]:
    """Normalised text for ``_content`` (every string outside meta and the narrative) and ``_text``
    (the narrative's words, markup removed), when the type has those parameters."""
    out: list[tuple[str, str]] = []
    if "_content" in params:
        strings: list[str] = []
        _inner_leaves([value for key, value in resource.items() if key not in _SKIP_CONTENT], strings)
        out.append(("_content", normalise(" ".join(strings))))
    narrative = resource.get("text")
    div = narrative.get("div") if is_obj(narrative) else None
    if "_text" in params and isinstance(div, str):
        out.append(("_text", normalise(html.unescape(_TAG_RE.sub(" ", div)))))
    return out


def _last_updated(resource: dict[str, Any]) -> int | None:
    meta = resource.get("meta")
    stamp = meta.get("lastUpdated") if is_obj(meta) else None
    rng = date_range(stamp) if isinstance(stamp, str) else None
    return rng[0] if rng is not None else None


# one INSERT per index table (constant text: prepared once by sqlite3's statement cache)
_INSERT: dict[str, str] = {
    table: f"INSERT INTO {table}(env, type, id, tenant, seq, param, grp, {', '.join(cols)}) "  # noqa: S608
    f"VALUES (?, ?, ?, ?, ?, ?, ?, {', '.join('?' * len(cols))})"
    for table, cols in COLUMNS.items()
}
_INSERT["sp_resource"] = "INSERT INTO sp_resource VALUES (?, ?, ?, ?, ?)"
_INSERT["sp_text"] = "INSERT INTO sp_text VALUES (?, ?, ?, ?, ?, ?)"


class IndexBatch:
    """Index rows written by one write transaction and not yet inserted.

    :func:`reindex` adds to it; :meth:`flush` inserts everything in one ``executemany`` per table.
    Its owner (the store) flushes before the transaction commits and before anything searches inside
    the transaction, so a search never misses a row the transaction wrote.
    """

    __slots__ = ("_full", "_rows")

    def __init__(self, *, full: bool = False) -> None:
        self._rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _INSERT}
        self._full = full
        """Write every row, folded parameters' included (the tests compare the two indexes)."""

    def __bool__(self) -> bool:
        return any(self._rows.values())

    def add(
        self, env: str, type: str, id: str, tenant: str, resource: dict[str, Any], params: dict[str, ParamDef]
    ) -> None:
        """Queue every index row of one live resource that has no index rows yet."""
        rows = self._rows
        rows["sp_resource"].append((env, type, id, tenant, _last_updated(resource)))
        rows["sp_text"].extend(
            (env, type, id, param, tenant, text) for param, text in full_text(resource, params) if text
        )
        found = extract_with(resource, build_plan(params)) if self._full else extract(resource, params)
        for table, table_rows in found.items():
            if table_rows:
                rows[table].extend((env, type, id, tenant, seq, *row) for seq, row in enumerate(table_rows))

    def flush(self, conn: sqlite3.Connection) -> None:
        """Insert the queued rows inside the caller's transaction and forget them."""
        for table, rows in self._rows.items():
            if rows:
                conn.executemany(_INSERT[table], rows)
                rows.clear()

    def clear(self) -> None:
        """Forget the queued rows (the transaction rolled back)."""
        for rows in self._rows.values():
            rows.clear()


def reindex(
    conn: sqlite3.Connection,
    *,
    env: str,
    type: str,
    id: str,
    tenant: str,
    resource: dict[str, Any] | None,
    fresh: bool = False,
    batch: IndexBatch | None = None,
) -> None:
    """Replace the index rows of one resource inside the caller's transaction (None = deleted).

    ``fresh``: the resource has no index rows yet (its first version), so none are looked for.
    ``batch``: queue the new rows there instead of inserting them now (see :class:`IndexBatch`).
    """
    if not fresh:
        if batch:
            batch.flush(conn)  # the rows to replace may still be queued
        key = (env, type, id)
        if conn.execute("SELECT 1 FROM sp_resource WHERE env = ? AND type = ? AND id = ?", key).fetchone() is not None:
            for table in (*TABLES.values(), "sp_resource", "sp_text"):
                conn.execute(f"DELETE FROM {table} WHERE env = ? AND type = ? AND id = ?", key)  # noqa: S608
    if resource is None:
        return
    params = SEARCH_PARAMETERS.get(type)
    if params is None:
        return
    if batch is not None:
        batch.add(env, type, id, tenant, resource, params)
        return
    own = IndexBatch()
    own.add(env, type, id, tenant, resource, params)
    own.flush(conn)


def install(conn: sqlite3.Connection) -> None:
    """Create the index tables and their SQL indexes (idempotent), in the caller's transaction.

    Index tables of another layout version are dropped first. A store that holds live resources
    but no index rows (made before the engine existed, or just dropped) is indexed from the stored
    bodies.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS sp_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM sp_meta WHERE key = 'schema'").fetchone()
    if row is None or row[0] != str(SCHEMA_VERSION):
        for table in ("sp_resource", "sp_text", *COLUMNS):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("INSERT OR REPLACE INTO sp_meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    for statement in DDL:
        conn.execute(statement)
    if conn.execute("SELECT 1 FROM sp_resource LIMIT 1").fetchone() is not None:
        return
    has_store = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'").fetchone()
    if has_store is None:
        return
    rows = conn.execute("SELECT env, type, id, tenant, body FROM resources WHERE deleted = 0 AND body IS NOT NULL")
    for env, rtype, rid, tenant, body in rows.fetchall():
        reindex(conn, env=env, type=rtype, id=rid, tenant=tenant, resource=orjson.loads(body))
