"""References (:mod:`clinikfhir.refs`) and transaction entries built from typed queries, against the sandbox.

``ref(p)`` builds the Reference users otherwise write by hand; ``parse_reference`` reads every kind
of reference; ``Transaction`` takes conditional creates, upserts and deletes as typed queries and
patches as Binary entries, and the sandbox runs them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clinikfhir import Clinik, InvalidArgumentError, JsonPatch, Transaction
from clinikfhir.models import (
    CodeableConcept,
    HumanName,
    Identifier,
    Observation,
    Organization,
    Patient,
    Reference,
)
from clinikfhir.refs import contained, display_of, parse_reference, ref
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationQuery, PatientQuery

MRN = "http://hospital.example/mrn"


@pytest.fixture
def clinik(sandbox: Sandbox, api_key: str) -> Iterator[Clinik]:
    with Clinik(api_key, base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        yield client


# ------------------------------------------------------------------------------------------- ref


def test_ref_points_at_the_resource_and_labels_people_and_organisations() -> None:
    ann = Patient(id="p1", name=[HumanName(given=["Ann", "Marie"], family="Lee")])
    assert ref(ann) == Reference(reference="Patient/p1", display="Ann Marie Lee")
    official = Patient(id="p2", name=[HumanName(text="Nick"), HumanName(use="official", text="Nicholas Roe")])
    assert ref(official).display == "Nicholas Roe"
    assert ref(Organization(id="o1", name="General Hospital")).display == "General Hospital"
    assert ref(ann, display=None) == Reference(reference="Patient/p1")
    assert ref(ann, display="Ms Lee").display == "Ms Lee"
    assert display_of(Observation(status="final", code=CodeableConcept(text="x"))) is None


def test_ref_needs_an_id_and_says_what_to_do_instead() -> None:
    with pytest.raises(InvalidArgumentError, match=r"urn:uuid reference tx\.create"):
        ref(Patient(name=[HumanName(family="Lee")]))


@pytest.mark.parametrize(
    ("text", "kind", "rtype", "rid", "version"),
    [
        ("Patient/p1", "relative", "Patient", "p1", None),
        ("Patient/p1/_history/3", "relative", "Patient", "p1", "3"),
        ("#med1", "contained", None, "med1", None),
        ("urn:uuid:0b5e7c1a-3d1e-4c1e-9a4b-5a1f3e2d1c0b", "urn", None, None, None),
        ("https://api.clinikapi.com/v1/fhir/Patient/p1", "relative", "Patient", "p1", None),
        ("https://elsewhere.example/fhir/Patient/p9", "absolute", "Patient", "p9", None),
    ],
)
def test_parse_reference_reads_every_kind(
    text: str, kind: str, rtype: str | None, rid: str | None, version: str | None
) -> None:
    parsed = parse_reference(Reference(reference=text), fhir_base="https://api.clinikapi.com/v1/fhir")
    assert (parsed.kind, parsed.type, parsed.id, parsed.version) == (kind, rtype, rid, version)


@pytest.mark.parametrize("text", ["Patient", "patient/1", "#", "urn:uuid:nope", "Patient/a b"])
def test_parse_reference_refuses_malformed_text_without_echoing_it(text: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_reference(text)
    assert text not in str(info.value) or text in ("#",)


def test_identifier_only_references_name_nothing_to_read() -> None:
    with pytest.raises(InvalidArgumentError, match="no 'reference' element"):
        parse_reference(Reference(identifier=Identifier(system=MRN, value="1")))


def test_contained_finds_the_local_resource_typed() -> None:
    inner = Patient(id="pt", name=[HumanName(family="Inner")])
    obs = Observation(
        status="final", code=CodeableConcept(text="x"), contained=[inner], subject=Reference(reference="#pt")
    )
    assert obs.subject is not None
    assert contained(obs, obs.subject, Patient).name == inner.name
    with pytest.raises(InvalidArgumentError, match="no contained resource"):
        contained(obs, "#other", Patient)
    with pytest.raises(InvalidArgumentError, match="'#id' reference"):
        contained(obs, "Patient/pt", Patient)


# --------------------------------------------------------------------------- transaction entries


def _mrn(value: str) -> list[Identifier]:
    return [Identifier(system=MRN, value=value)]


def test_transaction_conditional_entries_from_typed_queries(clinik: Clinik) -> None:
    existing = clinik.create(Patient(identifier=_mrn("100"), gender="female"))
    doomed = clinik.create(Patient(identifier=_mrn("300")))

    tx = Transaction()
    kept = tx.create(Patient(identifier=_mrn("100")), if_none_exist=PatientQuery().identifier((MRN, "100")))
    fresh = tx.create(Patient(identifier=_mrn("200")), if_none_exist=PatientQuery().identifier((MRN, "200")))
    tx.upsert(Patient(identifier=_mrn("100"), gender="other"), match=PatientQuery().identifier((MRN, "100")))
    tx.delete(Patient, match=PatientQuery().identifier((MRN, "300")))
    tx.create(Observation(status="final", code=CodeableConcept(text="bp"), subject=Reference(reference=kept)))
    assert tx.to_json("transaction")["entry"][2]["request"]["url"] == f"Patient?identifier={MRN}|100"
    response = clinik.transaction(tx)
    assert [e.status_code for e in response] == [200, 201, 200, 204, 201]
    assert response.resource(kept, Patient).id == existing.id  # matched, not created
    assert response.resource(fresh, Patient).id != existing.id
    assert clinik.read(Patient, existing.id or "").gender == "other"
    assert clinik.search(Patient).id_(doomed.id or "").count() == 0
    obs = clinik.search(Observation).one()
    assert obs.subject is not None
    assert obs.subject.reference == f"Patient/{existing.id}"


def test_transaction_patch_entry(clinik: Clinik) -> None:
    p = clinik.create(Patient(gender="male"))
    tx = Transaction()
    tx.patch(Patient, p.id or "", JsonPatch(Patient).replace("/gender", "female"))
    assert clinik.transaction(tx).entries[0].ok
    assert clinik.read(Patient, p.id or "").gender == "female"


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda tx: tx.delete(Patient, match=PatientQuery().page_size(5)), "no search criteria"),
        (lambda tx: tx.delete(Patient, match=""), "empty search criteria"),
        (lambda tx: tx.delete(Patient, "x", match=PatientQuery().family("A")), "not both"),
        (lambda tx: tx.upsert(Patient(), match=ObservationQuery().code("x")), "search on Observation cannot"),
        (lambda tx: tx.create(Patient(), if_none_exist=42), "pass a query"),
    ],
)
def test_conditional_entries_refuse_criteria_that_select_everything_or_the_wrong_type(
    call: object, needle: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        call(Transaction())  # type: ignore[operator]


def test_transaction_of_is_deprecated_for_the_constructor() -> None:
    with pytest.warns(DeprecationWarning, match="Transaction\\(list\\)"):
        old = Transaction.of([Patient(gender="male")])
    assert len(old) == len(Transaction([Patient(gender="male")])) == 1
