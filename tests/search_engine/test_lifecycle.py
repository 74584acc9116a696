"""Index lifecycle (replace on update, remove on delete, backfill on install), escapes, result
parameters passed through, and :iterate on reference cycles."""

from __future__ import annotations

import sqlite3

import orjson

from clinikfhir.sandbox import search
from clinikfhir.sandbox._store import SCHEMA

from .conftest import Store


def test_update_replaces_index_rows(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p", "name": [{"family": "Old"}], "gender": "male"})
    assert store.ids("Patient", "family=old") == ["p"]
    store.put({"resourceType": "Patient", "id": "p", "name": [{"family": "New"}]})
    assert store.ids("Patient", "family=old") == []
    assert store.ids("Patient", "family=new") == ["p"]
    assert store.ids("Patient", "gender:missing=true") == ["p"]
    rows = store.conn.execute("SELECT COUNT(*) FROM sp_string WHERE id = 'p' AND param = 'family'").fetchone()[0]
    assert rows == 1


def test_delete_removes_every_row(store: Store) -> None:
    store.put(
        {
            "resourceType": "Observation",
            "id": "o",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p"},
            "valueQuantity": {"value": 1},
            "effectiveDateTime": "2024",
        }
    )
    store.delete("Observation", "o")
    for table in ("sp_resource", "sp_token", "sp_string", "sp_date", "sp_quantity", "sp_reference", "sp_uri"):
        assert store.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE id = 'o'").fetchone()[0] == 0
    assert store.ids("Observation", "") == []
    assert store.ids("Observation", "status:missing=true") == []


def test_install_indexes_an_existing_store() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)  # the sandbox store's own tables, made before the engine existed
    body = {
        "resourceType": "Patient",
        "id": "p",
        "name": [{"family": "Early"}],
        "meta": {"tag": [{"system": "https://clinikapi.com/tenant", "code": "org_a"}]},
    }
    conn.execute(
        "INSERT INTO resources VALUES ('test', 'Patient', 'p', 'org_a', 1, 'x', 0, ?)", (orjson.dumps(body).decode(),)
    )
    conn.execute("INSERT INTO resources VALUES ('test', 'Patient', 'gone', 'org_a', 2, 'x', 1, NULL)")
    search.install(conn)
    result = search.run(
        conn,
        env="test",
        tenant="org_a",
        type="Patient",
        params=[("family", "early")],
        offset=0,
        count=10,
        lenient=False,
    )
    assert result.ids == ["p"]
    assert search.run(
        conn, env="test", tenant="org_a", type="Patient", params=[], offset=0, count=10, lenient=False
    ).ids == ["p"]


def test_escapes_in_values(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:a|b", "value": "x$y,z"}]})
    store.put({"resourceType": "Patient", "id": "p2", "identifier": [{"system": "urn:a", "value": "b"}]})
    assert store.run("Patient", [("identifier", "urn:a\\|b|x$y\\,z")]).ids == ["p1"]
    assert store.run("Patient", [("identifier", "urn:a|b")]).ids == ["p2"]
    assert store.run("Patient", [("identifier", "x$y\\,z,b")]).ids == ["p1", "p2"]


def test_result_parameters_are_passed_through(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p1"})
    result = store.run("Patient", [("_elements", "name,gender"), ("_elements", "birthDate"), ("_format", "json")])
    assert result.elements == ["name", "gender", "birthDate"]
    assert result.ids == ["p1"]


def test_iterate_terminates_on_cycles(store: Store) -> None:
    store.put(
        {"resourceType": "Patient", "id": "a", "link": [{"other": {"reference": "Patient/b"}, "type": "seealso"}]}
    )
    store.put(
        {"resourceType": "Patient", "id": "b", "link": [{"other": {"reference": "Patient/a"}, "type": "seealso"}]}
    )
    result = store.run("Patient", [("_id", "a"), ("_include:iterate", "Patient:link")])
    assert result.includes == [("Patient", "b")]


def test_resources_matching_through_several_rows_appear_once(store: Store) -> None:
    for i in range(5):
        store.put(
            {
                "resourceType": "Observation",
                "id": f"o{i}",
                "status": "final",
                "code": {"coding": [{"code": "x"}, {"system": "s", "code": "x"}]},
                "effectiveDateTime": f"202{i}",
            }
        )
    for extra in ([], [("_total", "none")]):
        result = store.run("Observation", [("code", "x"), ("_sort", "-date"), *extra], count=3)
        assert result.ids == ["o4", "o3", "o2"]
        assert result.total == (None if extra else 5)
        assert store.run("Observation", [("code", "x"), ("_sort", "-date"), *extra], count=3, offset=3).ids == [
            "o1",
            "o0",
        ]


def test_oversized_searches_are_400_not_crashes(store: Store) -> None:
    import pytest

    from clinikfhir.sandbox.search import SearchError

    store.put({"resourceType": "Patient", "id": "p"})
    deep = "_has:Patient:link:" * 12 + "_id"
    with pytest.raises(SearchError) as err:
        store.run("Patient", [(deep, "p")])
    assert err.value.status == 400
    for n in (1_500, 25_000):
        many = ",".join(f"v{i}" for i in range(n))
        with pytest.raises(SearchError) as err:
            store.run("Patient", [("family", many)])
        assert err.value.status == 400
    with pytest.raises(SearchError) as err:
        store.run("Patient", [("gender", "male")] * 101)
    assert err.value.status == 400
    assert store.run("Patient", [("gender:missing", "true")] * 100).ids == ["p"]
    wide = [("family:contains", ",".join(f"w{i}" for i in range(400)))] * 60  # 24,000 values in all
    with pytest.raises(SearchError) as err:
        store.run("Patient", wide)
    assert err.value.status == 400
    assert store.run("Patient", [("family", ",".join(f"v{i}" for i in range(500)))]).ids == []
    assert store.run("Patient", [("_has:Patient:link:_has:Patient:link:_id", "p")]).ids == []


def test_install_rebuilds_index_tables_of_an_older_layout(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p", "name": [{"family": "Kept"}]})
    conn = store.conn
    # an older layout: no seq column, another version number
    conn.execute("DROP TABLE sp_string")
    conn.execute("CREATE TABLE sp_string(env, tenant, type, id, param, grp, value, raw)")
    conn.execute("UPDATE sp_meta SET value = '1' WHERE key = 'schema'")
    search.install(conn)
    assert store.ids("Patient", "family=kept") == ["p"]
    store.put({"resourceType": "Patient", "id": "q", "name": [{"family": "Kept"}]})
    assert store.ids("Patient", "family=kept") == ["p", "q"]
