"""``clinikfhir load`` (and ``sandbox --seed``, ``export``) run for real: subprocesses talking HTTP to
the served sandbox, and the in-process sandbox behind ``--sandbox DB``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from clinikfhir._load.loader import LOAD_TAG
from clinikfhir.sandbox import Sandbox

from .conftest import EXPECTED, Run, bulk_observations, bulk_patients, sandbox_command
from .synthea_like import patient_bundle

KeyFactory = Any


def totals(sb: Sandbox, key: str) -> dict[str, int]:
    """How many resources of each type the tenant of ``key`` holds (searched over HTTP)."""
    with sb.client(key) as client:
        out = {}
        for rtype in EXPECTED:
            bundle = client.get(f"/v1/fhir/{rtype}", params={"_summary": "count"}).json()
            out[rtype] = bundle["total"]
        return out


def counts(report_file: Path) -> dict[str, dict[str, int]]:
    return {t: {k: v for k, v in c.items() if v} for t, c in json.loads(report_file.read_text())["counts"].items()}


def test_load_a_folder_then_again_creates_nothing_twice(
    served_sandbox: Sandbox, make_key: KeyFactory, data_dir: Path, tmp_path: Path, run_cli: Run
) -> None:
    key = make_key()
    base = ["--base-url", served_sandbox.base_url, "--key", key, "--no-progress"]
    first = run_cli("load", str(data_dir), *base, "--concurrency", "4", "--report", str(tmp_path / "r1.json"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert counts(tmp_path / "r1.json") == {t: {"created": n} for t, n in EXPECTED.items()}
    assert totals(served_sandbox, key) == EXPECTED
    assert key not in first.stdout + first.stderr

    again = run_cli("load", str(data_dir), *base, "--concurrency", "8", "--report", str(tmp_path / "r2.json"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert counts(tmp_path / "r2.json") == {t: {"existing": n} for t, n in EXPECTED.items()}
    assert totals(served_sandbox, key) == EXPECTED


def test_references_are_resolved_within_the_tenant(
    served_sandbox: Sandbox, make_key: KeyFactory, data_dir: Path, run_cli: Run
) -> None:
    key = make_key()
    done = run_cli("load", str(data_dir), "--base-url", served_sandbox.base_url, "--key", key, "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    with served_sandbox.client(key) as client:

        def ids(rtype: str, **params: str) -> set[str]:
            bundle = client.get(f"/v1/fhir/{rtype}", params={"_count": "100", **params}).json()
            return {f"{rtype}/{e['resource']['id']}" for e in bundle.get("entry", [])}

        organizations, practitioners, patients = ids("Organization"), ids("Practitioner"), ids("Patient")
        for encounter in client.get("/v1/fhir/Encounter", params={"_count": "100"}).json()["entry"]:
            resource = encounter["resource"]
            assert resource["serviceProvider"]["reference"] in organizations  # was Organization?identifier=...
            assert resource["participant"][0]["individual"]["reference"] in practitioners
            assert resource["subject"]["reference"] in patients  # was urn:uuid:...
        # the NDJSON Observations (read before their Patients) point at the Patients loaded from the archive
        bulk = ids("Patient", gender="female", birthdate="1980-02-03")
        assert len(bulk) == 1
        subjects = client.get("/v1/fhir/Observation", params={"subject": bulk.pop()}).json()
        assert len(subjects["entry"]) == 2


def test_an_interrupted_load_resumes_without_duplicates(
    served_sandbox: Sandbox, make_key: KeyFactory, data_dir: Path, tmp_path: Path, run_cli: Run
) -> None:
    key = make_key()
    base = ["--base-url", served_sandbox.base_url, "--key", key, "--no-progress"]
    part = run_cli("load", str(data_dir), *base, "--limit", "30", "--report", str(tmp_path / "part.json"))
    assert part.returncode == 0, part.stdout + part.stderr
    assert "stopped at --limit" in part.stdout
    partial = totals(served_sandbox, key)
    loaded = sum(partial.values())
    assert 0 < loaded < sum(EXPECTED.values())

    rest = run_cli("load", str(data_dir), *base, "--report", str(tmp_path / "rest.json"))
    assert rest.returncode == 0, rest.stdout + rest.stderr
    report = counts(tmp_path / "rest.json")
    assert sum(c.get("existing", 0) for c in report.values()) == loaded
    assert sum(c.get("created", 0) for c in report.values()) == sum(EXPECTED.values()) - loaded
    assert totals(served_sandbox, key) == EXPECTED


def test_a_load_broken_off_by_the_network_resumes_without_duplicates(
    served_sandbox: Sandbox, make_key: KeyFactory, data_dir: Path, tmp_path: Path, run_cli: Run
) -> None:
    """The server commits a write and breaks the connection unanswered, three times in a row: the client
    gives up on that request and the load stops. The re-run finds it (and what came before) already
    there. (Seven more patient Bundles make the data more than one request can carry: 160 resources.)"""
    key = make_key()
    for seed in range(10, 17):
        (data_dir / f"Extra_{seed}.json").write_bytes(orjson.dumps(patient_bundle(seed)))
    expected = {**EXPECTED}
    for rtype, n in {"Patient": 1, "Encounter": 3, "Condition": 3, "Observation": 12, "Claim": 3}.items():
        expected[rtype] += 7 * n
    base = ["--base-url", served_sandbox.base_url, "--key", key, "--no-progress", "--concurrency", "1"]
    served_sandbox.faults.drop_after_commit(3)
    try:
        broken = run_cli("load", str(data_dir), *base)
    finally:
        served_sandbox.faults.reset()
    assert broken.returncode == 1
    # the last attempt's answer was lost too, so the client says the outcome is unknown (never a wrong one)
    assert re.search(
        r"stopped: POST \S+: an attempt's answer was lost \(RemoteProtocolError after 3 attempt\(s\)\)", broken.stdout
    )
    assert 0 < sum(totals(served_sandbox, key).values()) < sum(expected.values())

    again = run_cli("load", str(data_dir), *base, "--report", str(tmp_path / "r.json"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert sum(c.get("existing", 0) for c in counts(tmp_path / "r.json").values()) > 0
    assert totals(served_sandbox, key) == expected


def test_local_validation_refuses_with_paths_and_rules_never_values(
    served_sandbox: Sandbox, make_key: KeyFactory, tmp_path: Path, run_cli: Run
) -> None:
    key = make_key()
    folder = tmp_path / "bad"
    folder.mkdir()
    bad = patient_bundle(7)
    bad["entry"][0]["resource"]["gender"] = "SECRET-GENDER"
    bad["entry"][0]["resource"]["birthDate"] = "SECRET-1990"
    (folder / "bad_bundle.json").write_bytes(orjson.dumps(bad))
    (folder / "broken.json").write_bytes(b'{"resourceType": "Patient", "name": [SECRET')
    good = bulk_patients()[0]
    unresolved = {**bulk_observations()[0], "subject": {"reference": "Patient?identifier=urn:x|SECRET-MRN"}}
    (folder / "mixed.ndjson").write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps(unresolved) + b"\n")
    done = run_cli("load", str(folder), "--base-url", served_sandbox.base_url, "--key", key, "--no-progress")
    assert done.returncode == 1
    assert "SECRET" not in done.stdout + done.stderr
    text = re.sub(r"\s+", " ", done.stdout)
    assert f"{folder}/bad_bundle.json Bundle.entry[0].resource.gender: " in text
    assert "[binding]" in text
    assert "Bundle.entry[0].resource.birthDate: " in text
    assert f"{folder}/broken.json not valid JSON (line 1, column 38) [json]" in text
    assert (
        f"{folder}/mixed.ndjson:2 Observation.subject: "
        "the conditional reference matches no resource [conditional-reference]" in text
    )
    assert totals(served_sandbox, key)["Patient"] == 1  # the valid line of mixed.ndjson


def test_dry_run_sends_nothing(tmp_path: Path, data_dir: Path, run_cli: Run) -> None:
    db = tmp_path / "store.db"
    done = run_cli("load", str(data_dir), "--dry-run", "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Dry run: checked, nothing sent" in done.stdout
    assert re.search(r"Observation\s*│\s*27\s*│\s*0", done.stdout)
    assert not db.exists()


def test_the_progress_line_counts_resources_and_refusals(data_dir: Path, run_cli: Run) -> None:
    """Without --no-progress, stderr ends with the progress line: the input read, resources done,
    their rate, the ETA and the refusals (the table is on stdout either way)."""
    done = run_cli("load", str(data_dir), "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Checking .* 100% +56 resources +[\d,]+/s ETA [\d:]+ 0 refused", done.stderr), done.stderr
    assert "Dry run: checked, nothing sent" in done.stdout
    quiet = run_cli("load", str(data_dir), "--dry-run", "--no-progress")
    assert quiet.stderr == ""
    assert quiet.stdout.splitlines()[:-1] == done.stdout.splitlines()[:-1]  # the same table (times differ)


def test_load_into_a_sandbox_file_then_serve_it_and_export(tmp_path: Path, data_dir: Path, run_cli: Run) -> None:
    """In-process: load --sandbox DB; then serve DB and export what was loaded; compare with the sources."""
    db = tmp_path / "store.db"
    done = run_cli("load", str(data_dir), "--sandbox", str(db), "--tenant", "org_t", "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    with Sandbox.serve(db=db) as sb:
        key = sb.create_key("org_t")
        out = tmp_path / "export"
        exported = run_cli(
            "export", "Observation?code=8867-4", "Patient", "--out", str(out),
            "--base-url", sb.base_url, "--key", key, "--no-progress",
        )  # fmt: skip
        assert exported.returncode == 0, exported.stdout + exported.stderr
    observations = [orjson.loads(line) for line in (out / "Observation.ndjson").read_bytes().splitlines()]
    patients = [orjson.loads(line) for line in (out / "Patient.ndjson").read_bytes().splitlines()]
    sources = [e["resource"] for s in (1, 2) for e in patient_bundle(s)["entry"]]
    expected_obs = [
        r
        for r in sources + bulk_observations()
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "8867-4"
    ]
    expected_patients = [r for r in sources + bulk_patients() if r["resourceType"] == "Patient"]
    assert sorted(map(_comparable, observations)) == sorted(map(_comparable, expected_obs))
    assert sorted(map(_comparable, patients)) == sorted(map(_comparable, expected_patients))
    for resource in observations + patients:
        assert [t["system"] for t in resource["meta"]["tag"]].count(LOAD_TAG) == 1


def _comparable(resource: dict[str, Any]) -> bytes:
    """A resource without server-assigned data (id, meta) and with every reference reduced to its type."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: strip(v) for k, v in value.items() if k not in ("id", "meta")}
            if isinstance(value.get("reference"), str):
                out["reference"] = re.split(r"[/?]", value["reference"])[0]
            return out
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    data = strip(resource)
    if str(data.get("subject", {}).get("reference", "")).startswith("urn:uuid:"):
        data["subject"]["reference"] = "Patient"
    for name in ("encounter",):
        if name in data and data[name]["reference"].startswith("urn:uuid:"):
            data[name]["reference"] = "Encounter"
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def test_sandbox_seed_loads_on_start(data_dir: Path, tmp_path: Path) -> None:
    key = "clk_test_seedtest01"
    with sandbox_command("--key", f"{key}=org_seed", "--seed", str(data_dir)) as (origin, _):
        client = httpx.Client(base_url=origin, headers={"x-api-key": key})
        with client:
            got = {t: client.get(f"/v1/fhir/{t}", params={"_summary": "count"}).json()["total"] for t in EXPECTED}
    assert got == EXPECTED


def test_a_rejected_key_stops_the_load_with_one_line(served_sandbox: Sandbox, data_dir: Path, run_cli: Run) -> None:
    key = "clk_test_nobodyhasthiskey01"
    done = run_cli("load", str(data_dir), "--base-url", served_sandbox.base_url, "--key", key, "--no-progress")
    assert done.returncode == 1
    assert re.search(r"stopped: 401 INVALID_KEY: .* \(request id req_\w+\)\n", done.stdout)
    assert "problem(s)" not in done.stdout  # not one refusal per Bundle
    assert key not in done.stdout + done.stderr


def test_a_load_imports_no_model_and_no_other_command(
    served_sandbox: Sandbox, make_key: KeyFactory, data_dir: Path
) -> None:
    """Start-up is part of every load: the command imports only its own module (not the sandbox's,
    sqlite3 or the demo's), and a whole load, conditional look-ups included, types nothing (no
    fhir.resources model class, no sync client)."""
    key = make_key()
    probe = (
        "import sys\n"
        "from clinikfhir.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = ('fhir.resources', 'clinikfhir.cli.sandbox', 'clinikfhir._demo', 'sqlite3', 'clinikfhir.client')\n"
        "print('LOADED', sorted({m for m in sys.modules if m.startswith(heavy)}))\n"
        "sys.exit(code)\n"
    )
    args = ["load", str(data_dir), "--base-url", served_sandbox.base_url, "--key", key, "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(Path.cwd())},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "56 resources" in done.stdout
    assert "LOADED []" in done.stdout
