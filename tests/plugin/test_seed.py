"""The seed loader on its own, through a real client on an in-process sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinikfhir import Clinik
from clinikfhir.models import Observation, Patient
from clinikfhir.sandbox import Sandbox
from clinikfhir.testing import SeedError, seed


@pytest.fixture
def client() -> Iterator[Clinik]:
    sb = Sandbox()
    with Clinik(sb.create_key("org_seed"), base_url=sb.base_url, transport=sb.transport()) as c:
        yield c
    sb.close()


def test_references_resolve_whatever_the_file_order_and_a_second_seed_adds_nothing(
    client: Clinik, tmp_path: Path
) -> None:
    n = 130  # observations, all written before their patient
    lines = [
        {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "code": {"text": "pulse"},
            "subject": {"reference": "Patient/late"},
        }
        for i in range(n)
    ]
    lines.append({"resourceType": "Patient", "id": "late", "gender": "female"})
    (tmp_path / "all.ndjson").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    seeded = seed(client, tmp_path)
    assert len(seeded) == n + 1
    assert seeded.count("Observation") == n
    patient = seeded["Patient/late"]
    assert "Patient/late" in seeded
    assert client.search(Observation).subject(patient).page_size(1).page().total == n
    again = seed(client, tmp_path)  # the same loader as clinikfhir load: nothing twice
    assert len(again) == 0
    assert client.search(Observation).page_size(1).page().total == n


def test_searchset_bundles_are_split_and_batches_report_each_refused_entry(client: Clinik, tmp_path: Path) -> None:
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Patient", "id": "a"}}, {"resource": {"resourceType": "Patient"}}],
    }
    (tmp_path / "a.json").write_text(json.dumps(searchset), encoding="utf-8")
    assert seed(client, tmp_path / "a.json").count("Patient") == 2
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "gender": "male"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        ],
    }
    (tmp_path / "b.json").write_text(json.dumps(batch), encoding="utf-8")
    with pytest.raises(SeedError) as info:
        seed(client, tmp_path / "b.json")
    assert str(info.value) == (
        "seed data was not loaded (file, element path and rule; values are never shown):\n"
        f"  {tmp_path / 'b.json'}: Bundle.entry[1]: Resource not found [server:404]"
    )
    assert client.search(Patient).page().total == 3  # the batch's good entry stands


def test_only_json_and_ndjson_and_unknown_ids_are_plain_key_errors(client: Clinik, tmp_path: Path) -> None:
    (tmp_path / "x.xml").write_text("<Patient/>", encoding="utf-8")
    with pytest.raises(SeedError, match=r"x\.xml: not a \.json, \.ndjson or archive file \[file\]"):
        seed(client, tmp_path / "x.xml")
    (tmp_path / "p.json").write_text('{"resourceType": "Patient", "id": "p"}', encoding="utf-8")
    seeded = seed(client, tmp_path)  # a folder skips the .xml file
    assert seeded.id("Patient/p") != "p"
    with pytest.raises(KeyError, match="Patient/q was not seeded"):
        seeded.id("Patient/q")
