"""``Patient/{id}/$everything`` and ``Patient/$everything`` from the official Patient compartment."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from clinikfhir._generated.search_compartment import PATIENT_COMPARTMENT
from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef

from ._folds import reference_pairs
from ._model import SearchError, SearchResult
from ._values import date_range


def _pairs(types: Sequence[str] | None) -> list[list[str]]:
    """The compartment's (type, param) pairs, with the parameters whose rows they also read (the
    members query keeps rows pointing at a Patient, see :func:`._folds.reference_pairs`)."""
    wanted = set(types) if types is not None else None
    pairs = [
        (rtype, param)
        for rtype, params in PATIENT_COMPARTMENT.items()
        if wanted is None or rtype in wanted
        for param in params
    ]
    return [list(pair) for pair in reference_pairs(pairs, "Patient")]


_NO = ParamDef("", "", "", (), (), (), "", "")

# The date parameter that places a resource in time for start/end, per compartment type: the first
# of these codes the type defines.
_DATE_CODES = (
    "date",
    "authoredon",
    "onset-date",
    "recorded-date",
    "period",
    "occurrence",
    "issued",
    "created",
    "effective",
    "when",
    "sent",
    "recorded",
)
CLINICAL_DATE: dict[str, str] = {
    rtype: code
    for rtype in sorted(PATIENT_COMPARTMENT)
    for code in [next((c for c in _DATE_CODES if SEARCH_PARAMETERS.get(rtype, {}).get(c, _NO).type == "date"), "")]
    if code
}
CLINICAL_DATE["MedicationRequest"] = "authoredon"  # its `date` is the dosage timing


def _bound(name: str, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    rng = date_range(value)
    if rng is None:
        raise SearchError(400, "INVALID_PARAMETER", f"Invalid value for parameter '{name}'")
    return rng


def everything(
    conn: sqlite3.Connection,
    *,
    env: str,
    tenant: str,
    patient_id: str | None,
    start: str | None = None,
    end: str | None = None,
    since: str | None = None,
    types: Sequence[str] | None = None,
    offset: int = 0,
    count: int = 20,
) -> SearchResult:
    """The patient(s), every resource in their compartment and every resource those reference
    (Practitioners, Organizations, ...: R4 says the operation SHOULD return them), in this env and
    tenant only.

    Unlike :func:`run`, ``ids`` holds ``"Type/id"`` strings because the page mixes types: the
    patient(s) first, then the rest ordered by type and id. ``start``/``end`` keep resources whose
    clinical date overlaps the range, and resources of types without one or with no date;
    ``since`` keeps resources changed at or after that instant (both apply to referenced resources
    too); ``types`` restricts the types returned (any resource type).
    A ``patient_id`` that is absent, deleted or another tenant's raises a 404 ``SearchError``.
    """
    if patient_id is not None:
        row = conn.execute(
            "SELECT 1 FROM sp_resource WHERE env = ? AND type = 'Patient' AND id = ? AND tenant = ?",
            (env, patient_id, tenant),
        ).fetchone()
        if row is None:
            raise SearchError(404, "NOT_FOUND", "Resource not found")
    start_rng, end_rng, since_rng = _bound("start", start), _bound("end", end), _bound("_since", since)
    if types is not None:
        unknown = [t for t in types if t not in SEARCH_PARAMETERS]
        if unknown:
            raise SearchError(400, "INVALID_PARAMETER", "Parameter '_type' names an unknown resource type")
    patients_sql = "SELECT p.id FROM sp_resource p WHERE p.env = ? AND p.type = 'Patient' AND p.tenant = ?"
    patients_args: list[object] = [env, tenant]
    if patient_id is not None:
        patients_sql += " AND p.id = ?"
        patients_args.append(patient_id)
    # one range of the (env, type, param, ref_id) index per compartment (type, param) pair
    members = (
        "SELECT DISTINCT i.type AS type, i.id AS id FROM json_each(?) pr CROSS JOIN sp_reference i "
        "ON i.env = ? AND i.type = json_extract(pr.value, '$[0]') AND i.param = json_extract(pr.value, '$[1]') "
    )
    members_args: list[object] = [json.dumps(_pairs(None)), env]
    if patient_id is not None:
        members += "WHERE i.ref_id = ? AND i.ref_type = 'Patient' AND i.tenant = ?"
        members_args += [patient_id, tenant]
    else:
        members += (
            "WHERE i.ref_type = 'Patient' AND i.tenant = ? AND EXISTS (SELECT 1 FROM sp_resource p "
            "WHERE p.env = i.env AND p.type = 'Patient' AND p.id = i.ref_id AND p.tenant = ?)"
        )
        members_args += [tenant, tenant]
    members = f"SELECT 'Patient' AS type, q.id AS id FROM ({patients_sql}) q UNION {members}"
    members_args = [*patients_args, *members_args]
    where, where_args = _filters(since_rng, start_rng, end_rng)
    # the compartment (every type, filtered by date and _since), then what its resources reference
    # in the same tenant (filtered alike), then the _type restriction on the whole
    sql = (
        f"WITH m AS MATERIALIZED (SELECT r.type AS type, r.id AS id FROM ({members}) c JOIN sp_resource r "
        f"ON r.env = ? AND r.type = c.type AND r.id = c.id WHERE r.tenant = ?{where}), "
        "refs AS (SELECT DISTINCT i.ref_type AS type, i.ref_id AS id FROM m JOIN sp_reference i ON i.env = ? "
        "AND i.type = m.type AND i.id = m.id WHERE i.ref_id IS NOT NULL AND i.tenant = ?), "
        "found AS (SELECT type, id FROM m UNION SELECT r.type, r.id FROM refs JOIN sp_resource r ON r.env = ? "
        f"AND r.type = refs.type AND r.id = refs.id WHERE r.tenant = ?{where}) "
        "SELECT type, id FROM found"
    )
    args: list[object] = [*members_args, env, tenant, *where_args, env, tenant, env, tenant, *where_args]
    if types is not None:
        sql += " WHERE type IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(sorted(set(types))))
    total = int(conn.execute(f"SELECT COUNT(*) FROM ({sql})", args).fetchone()[0])
    rows = conn.execute(
        sql + " ORDER BY type != 'Patient', type, id LIMIT ? OFFSET ?", [*args, max(0, count), max(0, offset)]
    ).fetchall()
    return SearchResult(ids=[f"{t}/{i}" for t, i in rows], total=total)


def _filters(
    since_rng: tuple[int, int] | None, start_rng: tuple[int, int] | None, end_rng: tuple[int, int] | None
) -> tuple[str, list[object]]:
    """SQL (`` AND ...`` on the resource row ``r``) for ``_since`` and the start/end overlap of a
    resource's clinical date (resources without one stay)."""
    where = ""
    args: list[object] = []
    if since_rng is not None:
        where += " AND r.lu >= ?"
        args.append(since_rng[0])
    if start_rng is not None or end_rng is not None:
        low = start_rng[0] if start_rng else None
        high = end_rng[1] if end_rng else None
        cond = ["d.env = r.env", "d.type = r.type", "d.id = r.id", "d.param = json_extract(?, '$.' || r.type)"]
        overlap = list(cond)
        dates = json.dumps(CLINICAL_DATE)
        oargs: list[object] = [dates, dates]
        if low is not None:
            overlap.append("d.high > ?")
            oargs.append(low)
        if high is not None:
            overlap.append("d.low < ?")
            oargs.append(high)
        where += (
            " AND (r.type = 'Patient' OR NOT EXISTS (SELECT 1 FROM sp_date d WHERE "
            + " AND ".join(cond)
            + ") OR EXISTS (SELECT 1 FROM sp_date d WHERE "
            + " AND ".join(overlap)
            + "))"
        )
        args.extend(oargs)
    return where, args
