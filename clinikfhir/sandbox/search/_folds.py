"""Parameters whose index rows another parameter already carries: written once, read under both names.

Some R4 parameters are unions or filters of others on the same type:

- a *simple* parameter whose expression contains every branch of another of the same kind
  (Observation's ``combo-code`` is ``code | component-code``, ``combo-value-quantity`` is
  ``value-quantity | component-value-quantity``);
- a *composite* whose element expression contains every branch of another composite with the same
  components (``combo-code-value-quantity`` over ``Observation | Observation.component`` holds
  ``code-value-quantity`` over ``Observation`` and ``component-code-value-quantity`` over
  ``Observation.component``);
- a *reference* parameter that is another one filtered by its target type
  (``Observation.subject.where(resolve() is Patient)``, ``patient``, is ``subject`` whose rows point
  at a Patient).

The indexer leaves such rows out of the folded parameter (its plan evaluates only the branches no
source covers; a filtered reference drops its rows of the filter's type), and every reader of the
index reads the folded parameter's own rows together with its sources' rows (:func:`param_cond`,
:func:`sources`). Each source holds exactly rows the folded parameter would have held, under the
source's name, so every search answers as it would over all rows (the tests hold the two to the same
answers). A source is never itself folded, so one level of lookup is enough.
"""

# SQL text here is assembled only from fixed column names and the caller's aliases; every value is
# bound as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef

from ._paths import split_union
from ._schema import TABLES

_RESOLVE_RE = re.compile(r"^(?P<base>.+)\.where\(resolve\(\)\s+is\s+(?P<type>[A-Z][A-Za-z]+)\)$")


@dataclass(frozen=True, slots=True)
class Source:
    """Rows stored under ``param`` that also belong to a folded parameter (only those whose
    ``ref_type`` is ``ref_type``, when it is set)."""

    param: str
    ref_type: str | None = None


@dataclass(frozen=True, slots=True)
class Folds:
    """The folds of one resource type's parameters."""

    branches: dict[str, tuple[str, ...]]
    """Folded simple or composite parameter -> the branches of its expression that it still evaluates
    (possibly none: every row comes from its sources)."""
    dropped: dict[str, str]
    """Folded reference parameter -> the ``ref_type`` of the rows it leaves to its source."""
    reads: dict[str, tuple[Source, ...]]
    """Stored parameter name (``code``, ``code:of-type``, ``x#0``) -> the other rows it reads."""


def _kinds(pdef: ParamDef, params: dict[str, ParamDef]) -> tuple[tuple[str, str], ...] | None:
    """A composite's components as (kind, expression), or None when one is not indexed."""
    out: list[tuple[str, str]] = []
    for code, expr in pdef.components:
        comp = params.get(code)
        if comp is None or comp.type not in TABLES:
            return None
        out.append((comp.type, expr))
    return tuple(out)


def _indexed(code: str, pdef: ParamDef) -> bool:
    return bool(pdef.expression) and code not in ("_id", "_lastUpdated")


def compute_folds(params: dict[str, ParamDef]) -> Folds:
    """The folds of one table of parameters (see the module docstring)."""
    branches: dict[str, tuple[str, ...]] = {}
    dropped: dict[str, str] = {}
    reads: dict[str, list[Source]] = {}
    # filtered references first: ``X.where(resolve() is T)`` over a reference parameter ``X``
    for code, pdef in params.items():
        if pdef.type != "reference" or not _indexed(code, pdef):
            continue
        m = _RESOLVE_RE.match(pdef.expression)
        if m is None:
            continue
        base = next(
            (
                q
                for q, qdef in sorted(params.items())
                if q != code and qdef.type == "reference" and _indexed(q, qdef) and qdef.expression == m.group("base")
            ),
            None,
        )
        if base is not None:
            dropped[code] = m.group("type")
            reads[code] = [Source(base, m.group("type"))]

    def shape(code: str, pdef: ParamDef) -> tuple[str, Any] | None:
        """What makes two parameters' rows interchangeable: the kind (a composite's components)."""
        if not _indexed(code, pdef):
            return None
        if pdef.type == "composite":
            kinds = _kinds(pdef, params)
            return None if kinds is None else ("composite", kinds)
        return (pdef.type, None) if pdef.type in TABLES else None

    shapes = {code: s for code, pdef in params.items() if (s := shape(code, pdef)) is not None}
    sets = {code: frozenset(split_union(params[code].expression)) for code in shapes}
    # a source must keep all its rows: not folded itself, and no other parameter's branches inside it
    candidates: dict[str, list[str]] = {
        code: sorted(
            (q for q in shapes if q != code and shapes[q] == shapes[code] and sets[q] < sets[code]),
            key=lambda q: (-len(sets[q]), q),
        )
        for code in shapes
    }
    atomic = {code for code in shapes if not candidates[code] and code not in dropped}
    for code in sorted(shapes):
        if code in dropped:
            continue
        chosen: list[str] = []
        covered: set[str] = set()
        for q in candidates[code]:
            if q in atomic and covered.isdisjoint(sets[q]):
                chosen.append(q)
                covered |= sets[q]
        if not chosen:
            continue
        branches[code] = tuple(b for b in split_union(params[code].expression) if b not in covered)
        kind = params[code].type
        if kind == "composite":
            for n in range(len(params[code].components)):
                reads[f"{code}#{n}"] = [Source(f"{q}#{n}") for q in chosen]
        else:
            reads[code] = [Source(q) for q in chosen]
            suffix = {"token": ":of-type", "reference": ":identifier"}.get(kind)
            if suffix is not None:
                reads[code + suffix] = [Source(q + suffix) for q in chosen]
    for code in list(dropped):  # a filtered reference's source must keep every row
        if reads[code][0].param in branches:
            del dropped[code], reads[code]
    return Folds(branches, dropped, {k: tuple(v) for k, v in reads.items()})


@functools.cache
def type_folds(rtype: str) -> Folds:
    """The folds of an R4 resource type's parameters (none for an unknown type)."""
    return compute_folds(SEARCH_PARAMETERS.get(rtype, {}))


def sources(rtype: str, param: str) -> tuple[Source, ...]:
    """The other rows the stored parameter ``param`` of ``rtype`` reads (none for most)."""
    return type_folds(rtype).reads.get(param, ())


def param_cond(x: str, rtype: str, param: str) -> tuple[str, list[Any]]:
    """SQL (and its values) selecting the rows of ``param`` on the index row alias ``x``: its own
    rows and those of its sources (:func:`sources`)."""
    found = sources(rtype, param)
    if not found:
        return f"{x}.param = ?", [param]
    return _rows_cond(x, [param], found, listed=False)


@functools.cache  # called with the known parameters of known types only
def stored_names(rtype: str, param: str) -> tuple[str, ...] | None:
    """The stored parameter names whose rows are exactly the rows of ``param`` of ``rtype`` (its own
    name and its sources', sorted), as :func:`param_cond` selects them; None when a source counts
    only some of its rows (a filtered reference), which a list of names cannot say."""
    found = sources(rtype, param)
    if any(s.ref_type is not None for s in found):
        return None
    return tuple(sorted({param, *(s.param for s in found)}))


def params_cond(x: str, rtype: str, params: list[str]) -> tuple[str, list[Any]]:
    """SQL (and its values) selecting the rows of any of ``params`` of ``rtype`` on the index row
    alias ``x``, their sources' rows included (see :func:`param_cond`); the names are bound as one
    JSON list, so the SQL text does not depend on how many there are."""
    return _rows_cond(x, params, [s for param in params for s in sources(rtype, param)], listed=True)


def _rows_cond(x: str, params: list[str], found: Sequence[Source], *, listed: bool) -> tuple[str, list[Any]]:
    """The rows of ``params`` and of the sources ``found`` on alias ``x``; a filtered source's rows
    count only when they point at the filter's type (unless another name reads all its rows).
    ``listed``: the names bound as one JSON list, else one placeholder each."""

    def among(names: list[str], negate: bool = False) -> tuple[str, list[Any]]:
        op = "NOT IN" if negate else "IN"
        if listed:
            return f"{x}.param {op} (SELECT value FROM json_each(?))", [json.dumps(names)]
        return f"{x}.param {op} ({', '.join('?' * len(names))})", list(names)

    whole = {*params, *(s.param for s in found if s.ref_type is None)}
    filtered = sorted({s for s in found if s.ref_type is not None and s.param not in whole}, key=_source_key)
    sql, args = among(sorted(whole | {s.param for s in filtered}))
    if filtered:
        test, test_args = among(sorted({s.param for s in filtered}), negate=True)
        tests = [test]
        args.extend(test_args)
        for s in filtered:
            tests.append(f"({x}.param = ? AND {x}.ref_type = ?)")
            args.extend([s.param, s.ref_type])
        sql += " AND (" + " OR ".join(tests) + ")"
    return sql, args


def _source_key(source: Source) -> tuple[str, str]:
    return source.param, source.ref_type or ""


def reference_pairs(pairs: list[tuple[str, str]], target: str) -> list[tuple[str, str]]:
    """``(type, param)`` reference parameters read for rows pointing at ``target`` (the query keeps
    ``ref_type = target``), with the sources of each folded one added (a filtered source only when its
    filter is ``target``), sorted, without repeats."""
    out = set(pairs)
    for rtype, param in pairs:
        for s in sources(rtype, param):
            if s.ref_type is None or s.ref_type == target:
                out.add((rtype, s.param))
    return sorted(out)
