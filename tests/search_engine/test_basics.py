"""Milestone-1 behaviour: _id, _tag, _lastUpdated, _sort by _lastUpdated, paging, totals, errors,
and the env + tenant filter on every query."""

from __future__ import annotations

import pytest

from clinikfhir.sandbox.search import SearchError

from .conftest import Store


@pytest.fixture
def five(store: Store) -> Store:
    for i in range(5):
        store.put(
            {
                "resourceType": "Patient",
                "id": f"p{i}",
                "meta": {"tag": [{"system": "urn:flags", "code": "even" if i % 2 == 0 else "odd"}]},
            },
            last_updated=f"2024-0{i + 1}-15T12:00:00.000000Z",
        )
    store.put({"resourceType": "Patient", "id": "b1"}, tenant="org_b", last_updated="2024-01-15T12:00:00.000000Z")
    store.put({"resourceType": "Patient", "id": "l1"}, env="live", last_updated="2024-01-15T12:00:00.000000Z")
    return store


def test_no_parameters_returns_own_tenant_and_env_only(five: Store) -> None:
    result = five.run("Patient", "")
    assert result.ids == ["p0", "p1", "p2", "p3", "p4"]
    assert result.total == 5
    assert five.ids("Patient", "", tenant="org_b") == ["b1"]
    assert five.ids("Patient", "", env="live") == ["l1"]


def test_id_or_and_not(five: Store) -> None:
    assert five.ids("Patient", "_id=p1,p3,b1") == ["p1", "p3"]
    assert five.ids("Patient", "_id=p1&_id=p2") == []
    assert five.ids("Patient", "_id:not=p1") == ["p0", "p2", "p3", "p4"]
    assert five.ids("Patient", "_id=b1", tenant="org_b") == ["b1"]


def test_tag_token_forms(five: Store) -> None:
    assert five.ids("Patient", "_tag=urn:flags|even") == ["p0", "p2", "p4"]
    assert five.ids("Patient", "_tag=odd") == ["p1", "p3"]
    assert five.ids("Patient", "_tag=urn:flags|") == ["p0", "p1", "p2", "p3", "p4"]
    assert five.ids("Patient", "_tag=other|odd") == []
    assert five.ids("Patient", "_tag:not=urn:flags|odd") == ["p0", "p2", "p4"]
    # the tenant tag of the caller's own tenant is a no-op
    assert five.ids("Patient", "_tag=https://clinikapi.com/tenant|org_a") == ["p0", "p1", "p2", "p3", "p4"]


def test_tag_naming_another_tenant_is_a_conflict(five: Store) -> None:
    with pytest.raises(SearchError) as err:
        five.ids("Patient", "_tag=https://clinikapi.com/tenant|org_b")
    assert err.value.status == 403
    assert err.value.code == "TENANT_CONFLICT"
    assert "org_b" not in err.value.message
    with pytest.raises(SearchError):
        five.ids("Patient", "_tag:not=https://clinikapi.com/tenant|org_a")


def test_last_updated_prefixes(five: Store) -> None:
    # stored instants: 2024-01-15 .. 2024-05-15, 12:00 UTC (second precision ranges)
    assert five.ids("Patient", "_lastUpdated=2024-03") == ["p2"]
    assert five.ids("Patient", "_lastUpdated=ge2024-03-15") == ["p2", "p3", "p4"]
    assert five.ids("Patient", "_lastUpdated=gt2024-03-15") == ["p3", "p4"]
    assert five.ids("Patient", "_lastUpdated=lt2024-03-15") == ["p0", "p1"]
    assert five.ids("Patient", "_lastUpdated=le2024-03-15") == ["p0", "p1", "p2"]
    assert five.ids("Patient", "_lastUpdated=ne2024-03") == ["p0", "p1", "p3", "p4"]
    assert five.ids("Patient", "_lastUpdated=sa2024-03-15") == ["p3", "p4"]
    assert five.ids("Patient", "_lastUpdated=eb2024-03-15") == ["p0", "p1"]
    assert five.ids("Patient", "_lastUpdated=ge2024-02&_lastUpdated=lt2024-04") == ["p1", "p2"]
    assert five.ids("Patient", "_lastUpdated=2024-01,2024-05") == ["p0", "p4"]


def test_sort_by_last_updated_and_paging(five: Store) -> None:
    assert five.ids("Patient", "_sort=-_lastUpdated") == ["p4", "p3", "p2", "p1", "p0"]
    assert five.ids("Patient", "_sort=_lastUpdated") == ["p0", "p1", "p2", "p3", "p4"]
    page = five.run("Patient", "_sort=-_lastUpdated", offset=1, count=2)
    assert page.ids == ["p3", "p2"]
    assert page.total == 5
    assert five.run("Patient", "_total=none").total is None
    counted = five.run("Patient", "_summary=count")
    assert counted.summary_count
    assert counted.ids == []
    assert counted.total == 5


def test_unknown_parameter_is_400_naming_it_or_a_lenient_warning(five: Store) -> None:
    with pytest.raises(SearchError) as err:
        five.ids("Patient", "favourite-colour=blue")
    assert err.value.status == 400
    assert err.value.code == "INVALID_PARAMETER"
    assert "favourite-colour" in err.value.message
    assert "blue" not in err.value.message
    result = five.run("Patient", "favourite-colour=blue&_id=p1", lenient=True)
    assert result.ids == ["p1"]
    assert any("favourite-colour" in w for w in result.warnings)


def test_bad_values_are_400_without_echo(five: Store) -> None:
    with pytest.raises(SearchError) as err:
        five.ids("Patient", "_lastUpdated=ge2024-13-99")
    assert "_lastUpdated" in err.value.message
    assert "2024-13" not in err.value.message


def test_deleted_resources_disappear(five: Store) -> None:
    five.delete("Patient", "p2")
    assert five.ids("Patient", "_tag=even") == ["p0", "p4"]
    assert five.run("Patient", "").total == 4


def test_last_updated_beside_a_driving_condition(five: Store) -> None:
    # the token drives; _lastUpdated is then checked on each candidate's own row
    assert five.ids("Patient", "_tag=urn:flags|even&_lastUpdated=ge2024-03") == ["p2", "p4"]
    assert five.ids("Patient", "_lastUpdated=lt2024-03&_tag=urn:flags|even") == ["p0"]
    assert five.ids("Patient", "_tag=urn:flags|odd&_lastUpdated:missing=false") == ["p1", "p3"]
    assert five.ids("Patient", "_lastUpdated:missing=true") == []
    assert five.ids("Patient", "_tag=odd&_sort=-_lastUpdated") == ["p3", "p1"]
