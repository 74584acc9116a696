"""Chains of any depth, _has (also nested), _include/_revinclude (with :iterate and *), and
$everything, each checked in two tenants: another tenant's data never matches or appears."""

from __future__ import annotations

import pytest

from clinikfhir.sandbox import search
from clinikfhir.sandbox.search import SearchError

from .conftest import Store

LOINC = "http://loinc.org"


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


@pytest.fixture
def graph(store: Store) -> Store:
    a = store.put
    a({"resourceType": "Organization", "id": "oa", "name": "Acme"})
    a({"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "House"}]})
    a(
        {
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"family": "Smith"}],
            "managingOrganization": ref("Organization/oa"),
            "generalPractitioner": [ref("Practitioner/pr1")],
        }
    )
    a({"resourceType": "Patient", "id": "p2", "name": [{"family": "Jones"}]})
    a(
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": ref("Patient/p1"),
            "period": {"start": "2024-02-01", "end": "2024-02-02"},
        }
    )
    a(
        {
            "resourceType": "Observation",
            "id": "ob1",
            "status": "final",
            "subject": ref("Patient/p1"),
            "encounter": ref("Encounter/e1"),
            "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
            "effectiveDateTime": "2024-02-01",
        }
    )
    a(
        {
            "resourceType": "Observation",
            "id": "ob2",
            "status": "final",
            "subject": ref("Patient/p2"),
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "effectiveDateTime": "2020-01-01",
        }
    )
    a(
        {
            "resourceType": "Provenance",
            "id": "pv1",
            "target": [ref("Observation/ob1")],
            "recorded": "2024-02-01T00:00:00Z",
            "agent": [{"who": ref("Practitioner/pr1")}],
        }
    )
    a(
        {
            "resourceType": "DiagnosticReport",
            "id": "dr1",
            "status": "final",
            "code": {"text": "panel"},
            "subject": ref("Patient/p1"),
            "result": [ref("Observation/ob1"), ref("Observation/ob2")],
        }
    )
    # tenant org_b: look-alike data, plus references pointing at org_a's resources
    b = store.put
    b({"resourceType": "Organization", "id": "ob_org", "name": "Acme"}, tenant="org_b")
    b(
        {
            "resourceType": "Patient",
            "id": "q1",
            "name": [{"family": "Smith"}],
            "managingOrganization": ref("Organization/ob_org"),
        },
        tenant="org_b",
    )
    b(
        {
            "resourceType": "Observation",
            "id": "obq",
            "status": "final",
            "subject": ref("Patient/q1"),
            "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        },
        tenant="org_b",
    )
    b(
        {
            "resourceType": "Observation",
            "id": "obx",
            "status": "final",
            "subject": ref("Patient/p1"),
            "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        },
        tenant="org_b",
    )
    b(
        {
            "resourceType": "Provenance",
            "id": "pvx",
            "target": [ref("Observation/ob1")],
            "recorded": "2024-02-01T00:00:00Z",
            "agent": [{"who": ref("Practitioner/pr1")}],
        },
        tenant="org_b",
    )
    return store


@pytest.mark.parametrize(
    ("rtype", "query", "org_a", "org_b"),
    [
        ("Observation", "subject:Patient.name=smith", "ob1", "obq"),
        ("Observation", "subject.name=smith", "ob1", "obq"),
        ("Observation", "patient.name=smith", "ob1", "obq"),
        ("Observation", "subject:Patient.organization.name=acme", "ob1", "obq"),
        ("Observation", "subject:Patient.organization:Organization.name=acme", "ob1", "obq"),
        ("Observation", "encounter.subject:Patient.name=smith", "ob1", ""),
        ("Observation", "encounter.subject:Patient.organization.name=acme", "ob1", ""),
        ("Observation", "subject:Patient.general-practitioner.name=house", "ob1", ""),
        ("Observation", "subject:Patient._id=p1", "ob1", ""),
        ("Observation", "subject:Patient.name=smith,jones", "ob1 ob2", "obq"),
        ("Observation", "subject:Patient.name:missing=true", "", ""),
        ("DiagnosticReport", "result.code=8867-4", "dr1", ""),
        ("DiagnosticReport", "result.subject:Patient.name=jones", "dr1", ""),
        ("Patient", "_has:Observation:patient:code=8867-4", "p1", "q1"),
        ("Patient", "_has:Observation:subject:code=8480-6", "p2", ""),
        ("Patient", "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/pr1", "p1", ""),
        ("Patient", "_has:Observation:patient:_has:Provenance:target:_id=pvx", "", ""),
        ("Patient", "_has:Observation:patient:encounter.status=finished", "p1", ""),
        ("Practitioner", "_has:Provenance:agent:_id=pv1", "pr1", ""),
        ("Patient", "_has:Observation:patient:code=8867-4&name=smith", "p1", "q1"),
    ],
)
def test_chains_and_has_in_both_tenants(graph: Store, rtype: str, query: str, org_a: str, org_b: str) -> None:
    assert sorted(graph.ids(rtype, query)) == sorted(org_a.split())
    assert sorted(graph.ids(rtype, query, tenant="org_b")) == sorted(org_b.split())
    assert graph.ids(rtype, query, env="live") == []


def test_unknown_chain_parameters_are_400(graph: Store) -> None:
    for bad in (
        "subject.nonsense=x",
        "status.name=x",
        "subject:Medication.code=x",
        "_has:Observation:nonsense:code=x",
        "_has:Observation:code:code=x",
        "_has:Observation=x",
    ):
        with pytest.raises(SearchError) as err:
            graph.ids("Observation" if not bad.startswith("_has") else "Patient", bad)
        assert err.value.status == 400


def includes(result: search.SearchResult) -> list[str]:
    return sorted(f"{t}/{i}" for t, i in result.includes)


@pytest.mark.parametrize(
    ("rtype", "query", "org_a"),
    [
        ("Observation", "_id=ob1&_include=Observation:subject", "Patient/p1"),
        ("Observation", "_id=ob1&_include=Observation:subject:Patient", "Patient/p1"),
        ("Observation", "_id=ob1&_include=Observation:subject:Group", ""),
        ("Observation", "_id=ob1&_include=Observation:*", "Encounter/e1 Patient/p1"),
        ("Observation", "_id=ob1&_include=*", "Encounter/e1 Patient/p1"),
        (
            "Observation",
            "_id=ob1&_include=Observation:subject&_include:iterate=Patient:organization",
            "Organization/oa Patient/p1",
        ),
        ("Observation", "_id=ob1&_include=Observation:subject&_include=Patient:organization", "Patient/p1"),
        (
            "Observation",
            "_id=ob1&_include=Observation:subject&_include:iterate=Patient:*",
            "Organization/oa Patient/p1 Practitioner/pr1",
        ),
        ("Observation", "_id=ob1&_revinclude=Provenance:target", "Provenance/pv1"),
        ("Observation", "_id=ob1&_revinclude=DiagnosticReport:result", "DiagnosticReport/dr1"),
        ("Observation", "_id=ob1,ob2&_revinclude=DiagnosticReport:result", "DiagnosticReport/dr1"),
        ("Observation", "_id=ob1&_revinclude=*", "DiagnosticReport/dr1 Provenance/pv1"),
        ("Patient", "_id=p1&_revinclude=Observation:subject", "Observation/ob1"),
        (
            "Patient",
            "_id=p1&_revinclude=Observation:subject&_include:iterate=Observation:encounter",
            "Encounter/e1 Observation/ob1",
        ),
        (
            "Patient",
            "_id=p1&_revinclude=Observation:subject&_revinclude:iterate=Provenance:target",
            "Observation/ob1 Provenance/pv1",
        ),
    ],
)
def test_includes_stay_in_tenant(graph: Store, rtype: str, query: str, org_a: str) -> None:
    assert includes(graph.run(rtype, query)) == sorted(org_a.split())


def test_includes_from_another_tenant_give_nothing(graph: Store) -> None:
    # obx (org_b) points at org_a's patient; pvx (org_b) at org_a's observation
    assert includes(graph.run("Observation", "_id=obx&_include=Observation:subject", tenant="org_b")) == []
    assert includes(graph.run("Observation", "_id=obx&_include=*", tenant="org_b")) == []
    assert includes(graph.run("Patient", "_id=q1&_revinclude=*", tenant="org_b")) == ["Observation/obq"]
    assert includes(graph.run("Patient", "_id=p1&_revinclude=*")) == sorted(
        ["DiagnosticReport/dr1", "Encounter/e1", "Observation/ob1"]
    )


@pytest.mark.parametrize(
    "bad",
    [
        "Observation",
        "Observation:subject:Patient:extra",
        "Nope:subject",
        "Observation:code",
        "Observation:subject:Medication",
    ],
)
def test_malformed_includes_are_400(graph: Store, bad: str) -> None:
    with pytest.raises(SearchError) as err:
        graph.run("Observation", [("_include", bad)])
    assert err.value.status == 400
    assert "_include" in err.value.message


def everything(store: Store, patient: str | None, tenant: str = "org_a", **kw: object) -> list[str]:
    result = search.everything(
        store.conn, env="test", tenant=tenant, patient_id=patient, **{"offset": 0, "count": 100, **kw}
    )  # type: ignore[arg-type]
    assert result.total == len(result.ids)
    return result.ids


def test_everything_for_one_patient(graph: Store) -> None:
    # the compartment, then what it references: oa and pr1 (from p1), ob2 (from dr1.result)
    assert everything(graph, "p1") == [
        "Patient/p1",
        "DiagnosticReport/dr1",
        "Encounter/e1",
        "Observation/ob1",
        "Observation/ob2",
        "Organization/oa",
        "Practitioner/pr1",
    ]
    assert everything(graph, "p2") == ["Patient/p2", "Observation/ob2"]
    assert everything(graph, "p1", types=["Observation"]) == ["Observation/ob1", "Observation/ob2"]
    assert everything(graph, "p1", types=["Patient", "Encounter"]) == ["Patient/p1", "Encounter/e1"]
    assert everything(graph, "p1", types=["Practitioner", "Organization"]) == ["Organization/oa", "Practitioner/pr1"]
    # start/end filter dated resources by their clinical date, referenced ones too; undated ones stay
    assert everything(graph, "p1", start="2025-01-01") == [
        "Patient/p1",
        "DiagnosticReport/dr1",
        "Organization/oa",
        "Practitioner/pr1",
    ]
    assert everything(graph, "p2", end="2019-12-31") == ["Patient/p2"]
    assert everything(graph, "p1", since="2100-01-01") == []


def test_everything_is_tenant_scoped(graph: Store) -> None:
    with pytest.raises(SearchError) as err:
        everything(graph, "p1", tenant="org_b")
    assert err.value.status == 404
    assert everything(graph, "q1", tenant="org_b") == ["Patient/q1", "Observation/obq", "Organization/ob_org"]
    # all of org_b's patients: obx points at org_a's p1, so it is not in any org_b compartment
    assert everything(graph, None, tenant="org_b") == ["Patient/q1", "Observation/obq", "Organization/ob_org"]
    assert everything(graph, None) == [
        "Patient/p1",
        "Patient/p2",
        "DiagnosticReport/dr1",
        "Encounter/e1",
        "Observation/ob1",
        "Observation/ob2",
        "Organization/oa",
        "Practitioner/pr1",
    ]


def test_everything_never_follows_a_reference_into_another_tenant(graph: Store) -> None:
    graph.put(
        {
            "resourceType": "Observation",
            "id": "obq2",
            "status": "final",
            "subject": ref("Patient/q1"),
            "performer": [ref("Practitioner/pr1"), ref("Organization/oa")],  # org_a's resources
            "code": {"text": "x"},
        },
        tenant="org_b",
    )
    found = everything(graph, "q1", tenant="org_b")
    assert found == ["Patient/q1", "Observation/obq", "Observation/obq2", "Organization/ob_org"]
    assert everything(graph, "q1", tenant="org_b", types=["Practitioner"]) == []


def test_everything_rejects_unknown_types(graph: Store) -> None:
    with pytest.raises(SearchError) as err:
        everything(graph, "p1", types=["NoSuchType"])
    assert err.value.status == 400


def test_everything_pages(graph: Store) -> None:
    first = search.everything(graph.conn, env="test", tenant="org_a", patient_id=None, offset=0, count=4)
    second = search.everything(graph.conn, env="test", tenant="org_a", patient_id=None, offset=4, count=4)
    assert first.total == second.total == 8
    assert len(first.ids) == 4
    assert len(second.ids) == 4
    assert not set(first.ids) & set(second.ids)


def test_list_parameter_is_tenant_scoped(graph: Store) -> None:
    graph.put(
        {
            "resourceType": "List",
            "id": "l1",
            "status": "current",
            "mode": "working",
            "entry": [{"item": ref("Patient/p1")}, {"item": ref("Observation/ob2")}],
        }
    )
    graph.put(
        {
            "resourceType": "List",
            "id": "lx",
            "status": "current",
            "mode": "working",
            "entry": [{"item": ref("Patient/p2")}],
        },
        tenant="org_b",
    )
    assert graph.ids("Patient", "_list=l1") == ["p1"]
    assert graph.ids("Observation", "_list=l1") == ["ob2"]
    assert graph.ids("Patient", "_list=l1,lx") == ["p1"]
    assert graph.ids("Patient", "_list=lx") == []  # org_b's list
    assert graph.ids("Patient", "_list=l1", tenant="org_b") == []
    assert graph.ids("Patient", "_list=l1&name=jones") == []


def test_everything_dates_use_each_types_clinical_date(graph: Store) -> None:
    graph.put(
        {
            "resourceType": "Condition",
            "id": "c_old",
            "subject": ref("Patient/p2"),
            "onsetDateTime": "2010-05-01",
            "code": {"text": "x"},
        }
    )
    graph.put(
        {
            "resourceType": "Condition",
            "id": "c_new",
            "subject": ref("Patient/p2"),
            "onsetDateTime": "2024-05-01",
            "code": {"text": "x"},
        }
    )
    graph.put(
        {
            "resourceType": "MedicationRequest",
            "id": "mr",
            "status": "active",
            "intent": "order",
            "subject": ref("Patient/p2"),
            "authoredOn": "2011-01-01",
            "medicationCodeableConcept": {"text": "m"},
        }
    )
    assert everything(graph, "p2", start="2021-01-01") == ["Patient/p2", "Condition/c_new"]
    assert everything(graph, "p2", end="2012-01-01") == ["Patient/p2", "Condition/c_old", "MedicationRequest/mr"]
