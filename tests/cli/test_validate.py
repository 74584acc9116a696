"""``clinikfhir validate``: exact output and exit codes on files with known errors."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from clinikfhir.cli import main


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``bad.json`` (3 errors: binding, format, unknown element), ``obs.ndjson`` (line 2 lacks status),
    ``ok.json`` (valid), and ``ok.json`` again inside ``more.tar.gz``; the cwd is their folder."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "bad.json").write_text('{"resourceType":"Patient","gender":"SECRET","birthDate":"1990-13-01","foo":1}')
    (folder / "obs.ndjson").write_text(
        '{"resourceType":"Observation","status":"final","code":{"text":"x"}}\n'
        '{"resourceType":"Observation","code":{"text":"y"}}\n'
    )
    ok = b'{"resourceType":"Patient","gender":"male","text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">M</div>"}}'
    (folder / "ok.json").write_bytes(ok)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("inner/ok.json")
        info.size = len(ok)
        archive.addfile(info, io.BytesIO(ok))
    (folder / "more.tar.gz").write_bytes(buffer.getvalue())
    return folder


def test_text_output_grouped_by_file_and_rule(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "data", "--ignore", "dom-6"])
    out = capsys.readouterr().out
    assert code == 1
    assert out == (
        "data/bad.json\n"
        "  error [binding] code is not in the required value set http://hl7.org/fhir/ValueSet/administrative-gender"
        " (allowed: female, male, other, unknown)\n"
        "      Patient.gender\n"
        "  error [format] is not a valid date\n"
        "      Patient.birthDate\n"
        "  error [unknown-element] unknown element\n"
        "      Patient.foo\n"
        "data/obs.ndjson:2\n"
        "  error [cardinality] required element is missing (min 1)\n"
        "      Observation.status\n"
        "5 resources checked: 4 errors in 2 file(s)\n"
    )
    assert "SECRET" not in out


def test_level_error_and_ignore(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "data/bad.json", "--level", "error", "--ignore", "binding", "--ignore", "format"])
    assert capsys.readouterr().out == (
        "data/bad.json\n  error [unknown-element] unknown element\n      Patient.foo\n"
        "1 resource checked: 1 error in 1 file(s)\n"
    )
    assert code == 1


def test_clean_files_exit_0_and_warnings_fail_only_when_asked(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "data/ok.json", "data/more.tar.gz"]) == 0
    assert capsys.readouterr().out == "2 resources checked: no issues\n"
    assert main(["validate", "data/obs.ndjson", "--fail-on", "warning"]) == 1
    assert "warning [dom-6]" in capsys.readouterr().out


def test_json_format(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "data", "--format", "json", "--level", "error"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["checked"] == 5
    assert report["counts"] == {"fatal": 0, "error": 4, "warning": 0, "information": 0}
    assert [f["file"] for f in report["files"]] == ["data/bad.json", "data/obs.ndjson:2"]
    assert report["files"][1]["issues"] == [
        {
            "severity": "error",
            "path": "Observation.status",
            "rule": "cardinality",
            "message": "required element is missing (min 1)",
        }
    ]


def test_sarif_format(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["validate", "data/obs.ndjson", "--format", "sarif", "--level", "error"])
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["rules"] == [{"id": "cardinality", "name": "cardinality"}]
    assert run["results"] == [
        {
            "ruleId": "cardinality",
            "ruleIndex": 0,
            "level": "error",
            "message": {"text": "Observation.status: required element is missing (min 1)"},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": "data/obs.ndjson"}},
                    "logicalLocations": [{"fullyQualifiedName": "Observation.status"}],
                }
            ],
        }
    ]


def test_unreadable_input_is_an_error_without_its_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Patient", "name": SECRET}')
    code = main(["validate", str(broken), str(tmp_path / "missing.json"), "--ignore", "dom-6"])
    assert capsys.readouterr().out == (
        f"{broken}\n  error [json] not valid JSON (line 1, column 37)\n"
        f"{tmp_path / 'missing.json'}\n  error [file] no such file or folder\n"
        "0 resources checked: 2 errors in 2 file(s)\n"
    )
    assert code == 1


def test_the_real_command_exit_codes(files: Path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "clinikfhir.cli", "validate", *args], capture_output=True
        ).returncode

    assert run("data/ok.json") == 0
    assert run("data") == 1
    assert run("data", "--level", "nonsense") == 2
