"""Folded parameters (``._folds``): a parameter whose rows another one already carries is written
once and read under both names. The compact index (what the sandbox writes) answers every search as
the full index (every parameter's own rows) does: the rows the compact index leaves out are exactly
its sources' rows (on the official examples and Synthea-shaped data), and generated Observations,
Patients and Groups give the same answers to generated searches (every kind, modifier, ``:missing``,
composites, sorts, chains, ``_has``, includes and ``$everything``) over both indexes."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS
from clinikfhir.sandbox import search
from clinikfhir.sandbox.search._folds import compute_folds, type_folds
from clinikfhir.sandbox.search._index import Rows, build_plan, extract, extract_with

from .test_index_plans import corpus_resources


def test_observation_folds() -> None:
    """The folds the sandbox's commonest writes rely on (a change of the rules shows here first)."""
    folds = type_folds("Observation")
    assert folds.branches["combo-code"] == ()
    assert folds.branches["combo-value-quantity"] == ()
    assert folds.branches["combo-code-value-quantity"] == ()
    assert folds.dropped["patient"] == "Patient"
    assert {s.param for s in folds.reads["combo-code-value-quantity#1"]} == {
        "code-value-quantity#1",
        "component-code-value-quantity#1",
    }
    # a source is never folded itself
    for rtype, params in SEARCH_PARAMETERS.items():
        found = compute_folds(params)
        for read in found.reads.values():
            for s in read:
                assert s.param.split("#")[0].split(":")[0] not in found.branches, (rtype, s)
                assert s.param.split("#")[0].split(":")[0] not in found.dropped, (rtype, s)


def _elements(rows: Rows) -> set[tuple[str, Any]]:
    """Every row as (parameter it belongs to, what a search compares): simple rows by value (token
    rows with a code, and each parameter's texts); composite rows as whole elements (their
    components' values, the group number dropped: the two indexes number groups differently)."""
    out: set[tuple[str, Any]] = set()
    groups: dict[tuple[str, Any], set[tuple[Any, ...]]] = {}
    for table, table_rows in rows.items():
        for row in table_rows:
            param, grp, values = row[0], row[1], (table, *row[2:])
            if "#" in param and not param.startswith("near#"):
                base, n = param.split("#")
                groups.setdefault((base, grp), set()).add((int(n), *values))
            elif table == "sp_token":  # codes as they are; texts per group (a repeated text is one row)
                if row[2] is not None or row[3] is not None:
                    out.add((param, (grp, *values)))
                if row[4] is not None:
                    out.add((param, ("text", grp, row[4])))
            else:
                out.add((param, (grp, *values)))
    for (base, _), comps in groups.items():
        out.add((base, frozenset(comps)))
    return out


def test_folded_rows_are_their_sources_rows() -> None:
    """Per resource: the compact rows are full rows, and the full rows of every folded parameter are
    its own compact rows plus its sources' rows (a filtered source's rows of its type)."""
    left_out = 0
    for resource in corpus_resources():
        rtype = resource.get("resourceType", "")
        params = SEARCH_PARAMETERS.get(rtype)
        if params is None:
            continue
        folds = type_folds(rtype)
        full = extract_with(resource, build_plan(params))
        compact = extract(resource, params)
        for table in full:
            assert all(row in full[table] for row in compact[table]), rtype
            left_out += len(full[table]) - len(compact[table])
        # the compact rows read as the folded parameter (each source's rows renamed to it, as the
        # query side reads them)
        read: Rows = {table: list(rows) for table, rows in compact.items()}
        for name, found in folds.reads.items():
            table_rows = [(t, r) for t, rows in compact.items() for r in rows if r[0] in {s.param for s in found}]
            for s in found:
                for table, row in table_rows:
                    if row[0] == s.param and (s.ref_type is None or row[2] == s.ref_type):
                        # composites keep the source's groups apart: offset by the source's name
                        grp = (s.param.split("#")[0], row[1]) if "#" in name else row[1]
                        read[table].append((name, grp, *row[2:]))
        assert _elements(read) == _elements(full), rtype
    assert left_out > 1000


# -- the same searches over the compact and the full index ---------------------------------------

S1, S2 = "http://loinc.org", "urn:s2"
CODES = [{"system": S1, "code": "c1", "display": "Blood pressure"}, {"system": S2, "code": "c2"}, {"code": "c3"}]
SUBJECTS: list[Any] = [
    None,
    {"reference": "Patient/p1"},
    {"reference": "Patient/p2"},
    {"reference": "Group/g1"},
    {"reference": "http://localhost/v1/fhir/Patient/p1"},
    {"reference": "http://other.org/fhir/Patient/p1"},
    {"type": "Patient", "identifier": {"system": "urn:mrn", "value": "m1"}},
    {"display": "someone"},
]


def _quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code}


values = st.one_of(
    st.none(),
    st.builds(_quantity, st.sampled_from([1, 2.5, 100]), st.sampled_from(["mg", "mm[Hg]"])).map(
        lambda q: {"valueQuantity": q}
    ),
    st.sampled_from(CODES).map(lambda c: {"valueCodeableConcept": {"coding": [c], "text": "concept"}}),
    st.just({"valueString": "high"}),
)
concepts = st.lists(st.sampled_from(CODES), min_size=0, max_size=2, unique_by=lambda c: c["code"]).map(
    lambda cs: {"coding": cs, "text": "Blood"} if cs else {"text": "Blood"}
)
observations = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from([f"o{n}" for n in range(6)]),
            "code": concepts,
            "value": values,
            "components": st.lists(st.tuples(concepts, values), max_size=2),
            "subject": st.sampled_from(SUBJECTS),
            "tenant": st.sampled_from(["org_a", "org_a", "org_b"]),
        }
    ),
    max_size=6,
)

QUERIES: list[tuple[str, str, str]] = [
    ("Observation", name, value)
    for name, value in [
        ("code", "c1"),
        ("combo-code", "c1"),
        ("combo-code", f"{S2}|c2"),
        ("combo-code", "c3,c2"),
        ("combo-code:not", "c1"),
        ("combo-code:text", "blood"),
        ("combo-code:in", "http://hl7.org/fhir/ValueSet/observation-status"),
        ("combo-code:missing", "true"),
        ("combo-code:missing", "false"),
        ("component-code", "c2"),
        ("combo-value-quantity", "gt2"),
        ("combo-value-quantity", "100"),
        ("combo-value-quantity", "le2.5|http://unitsofmeasure.org|mg"),
        ("combo-value-quantity", "ap100||mm[Hg]"),
        ("combo-value-quantity:missing", "true"),
        ("value-quantity", "gt0"),
        ("combo-value-concept", "c1"),
        ("combo-code-value-quantity", "c1$gt2"),
        ("combo-code-value-quantity", f"{S2}|c2$100"),
        ("combo-code-value-quantity", "c3$lt200,c1$2.5"),
        ("combo-code-value-quantity:missing", "true"),
        ("combo-code-value-quantity:missing", "false"),
        ("combo-code-value-concept", "c1$c2"),
        ("code-value-quantity", "c2$gt0"),
        ("component-code-value-quantity", "c1$gt0"),
        ("patient", "Patient/p1"),
        ("patient", "p1"),
        ("patient", "http://localhost/v1/fhir/Patient/p1"),
        ("patient", "http://other.org/fhir/Patient/p1"),
        ("patient:Patient", "p2"),
        ("patient:identifier", "urn:mrn|m1"),
        ("patient:missing", "true"),
        ("patient:missing", "false"),
        ("patient.name", "ann"),
        ("subject", "Group/g1"),
        ("_sort", "combo-code"),
        ("_sort", "-combo-value-quantity"),
        ("_sort", "patient,-_id"),
        ("_include", "Observation:patient"),
        ("_include", "Observation:*"),
    ]
] + [
    ("Patient", "_has:Observation:patient:combo-code", "c1"),
    ("Patient", "_has:Observation:patient:combo-value-quantity", "gt2"),
    ("Patient", "_revinclude", "Observation:patient"),
    ("Patient", "_revinclude", "*"),
    ("Patient", "name", "ann"),
]


def _index(items: list[dict[str, Any]], *, full: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    search.install(conn)
    batch = search.IndexBatch(full=full)
    resources: list[tuple[str, dict[str, Any]]] = [
        ("org_a", {"resourceType": "Patient", "id": "p1", "name": [{"family": "Ann"}]}),
        ("org_a", {"resourceType": "Patient", "id": "p2", "name": [{"family": "Bob"}]}),
        ("org_a", {"resourceType": "Group", "id": "g1", "type": "person", "actual": True}),
    ]
    seen: set[str] = set()
    for item in items:
        if item["id"] in seen:
            continue
        seen.add(item["id"])
        obs: dict[str, Any] = {"resourceType": "Observation", "id": item["id"], "status": "final", "code": item["code"]}
        obs.update(item["value"] or {})
        if item["components"]:
            obs["component"] = [{"code": code, **(value or {})} for code, value in item["components"]]
        if item["subject"] is not None:
            obs["subject"] = item["subject"]
        resources.append((item["tenant"], obs))
    for tenant, resource in resources:
        rtype = resource["resourceType"]
        batch.add("test", rtype, resource["id"], tenant, resource, SEARCH_PARAMETERS[rtype])
    batch.flush(conn)
    return conn


def _answer(conn: sqlite3.Connection, rtype: str, params: list[tuple[str, str]]) -> Any:
    try:
        found = search.run(
            conn, env="test", tenant="org_a", type=rtype, params=params, offset=0, count=100, lenient=False
        )
    except search.SearchError as err:
        return ("error", err.status, err.message)
    return (found.ids, found.total, found.includes)


@settings(max_examples=150, deadline=None)
@given(items=observations, picks=st.lists(st.integers(0, len(QUERIES) - 1), min_size=1, max_size=3))
def test_compact_and_full_index_answer_the_same(items: list[dict[str, Any]], picks: list[int]) -> None:
    compact, full = _index(items, full=False), _index(items, full=True)
    try:
        chosen = [QUERIES[i] for i in picks]
        for rtype in ("Observation", "Patient"):
            params = [(name, value) for t, name, value in chosen if t == rtype]
            if not params:
                continue
            assert _answer(compact, rtype, params) == _answer(full, rtype, params), params
            for name, value in params:  # each alone, too (an error in one hides the others)
                assert _answer(compact, rtype, [(name, value)]) == _answer(full, rtype, [(name, value)]), name
        for patient in ("p1", "p2", None):
            assert search.everything(compact, env="test", tenant="org_a", patient_id=patient, count=100) == (
                search.everything(full, env="test", tenant="org_a", patient_id=patient, count=100)
            )
        assert _rows(compact) <= _rows(full)
    finally:
        compact.close()
        full.close()


def _rows(conn: sqlite3.Connection) -> int:
    return sum(
        int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in ("sp_token", "sp_quantity", "sp_reference", "sp_string", "sp_date")
    )
