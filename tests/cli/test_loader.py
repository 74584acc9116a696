"""The load engine in-process on the in-process sandbox: Bundles over the request cap are sent in parts."""

from __future__ import annotations

from pathlib import Path

import orjson

from clinikfhir import AsyncClinik
from clinikfhir._load.loader import Loader
from clinikfhir.sandbox import Sandbox

from .synthea_like import entries_per_patient, hospital_information, patient_bundle, practitioner_information


async def _load(sb: Sandbox, key: str, folder: Path, part_bytes: int) -> Loader:
    async with AsyncClinik(key, base_url=sb.base_url, transport=sb.async_transport()) as clinik:
        loader = Loader(clinik, concurrency=2, part_bytes=part_bytes)
        await loader.run([str(folder)])
        return loader


async def test_a_bundle_over_the_cap_goes_in_parts_with_references_rewritten(tmp_path: Path) -> None:
    (tmp_path / "hospitalInformation.json").write_bytes(orjson.dumps(hospital_information()))
    (tmp_path / "practitionerInformation.json").write_bytes(orjson.dumps(practitioner_information()))
    big = patient_bundle(5, encounters=6)
    (tmp_path / "big.json").write_bytes(orjson.dumps(big))
    part = len(orjson.dumps(big)) // 4  # four or five parts
    with Sandbox() as sb:
        key = sb.create_key("org_big")
        first = await _load(sb, key, tmp_path, part)
        assert first.report.ok, first.report.refusals
        n = entries_per_patient(encounters=6)
        assert sum(c.created for c in first.report.counts.values()) == n + 7
        with sb.client(key) as client:
            patients = client.get("/v1/fhir/Patient").json()["entry"]
            assert len(patients) == 1
            pid = f"Patient/{patients[0]['resource']['id']}"
            observations = client.get("/v1/fhir/Observation", params={"_count": "100"}).json()["entry"]
            assert len(observations) == 24
            assert {o["resource"]["subject"]["reference"] for o in observations} == {pid}
            encounters = {f"Encounter/{e['resource']['id']}" for e in client.get("/v1/fhir/Encounter").json()["entry"]}
            assert {o["resource"]["encounter"]["reference"] for o in observations} == encounters
        again = await _load(sb, key, tmp_path, part)
        assert again.report.ok
        assert sum(c.existing for c in again.report.counts.values()) == n + 7
        assert sum(c.created for c in again.report.counts.values()) == 0


async def test_a_reference_to_a_later_part_refuses_the_bundle_before_sending(tmp_path: Path) -> None:
    bundle = patient_bundle(6, encounters=4)
    bundle["entry"].append(bundle["entry"].pop(0))  # the Patient last: everything refers forward to it
    (tmp_path / "forward.json").write_bytes(orjson.dumps(bundle))
    (tmp_path / "hospitalInformation.json").write_bytes(orjson.dumps(hospital_information()))
    (tmp_path / "practitionerInformation.json").write_bytes(orjson.dumps(practitioner_information()))
    with Sandbox() as sb:
        key = sb.create_key("org_fwd")
        loader = await _load(sb, key, tmp_path, len(orjson.dumps(bundle)) // 3)
        assert [(r.rule, r.path) for r in loader.report.refusals] == [("size", "Bundle.entry[0]")]
        with sb.client(key) as client:
            assert client.get("/v1/fhir/Observation", params={"_summary": "count"}).json()["total"] == 0
