"""Fixtures of the CLI tests: a folder of Synthea-shaped and NDJSON data (with an archive), and a
runner of the real ``clinikfhir`` command in a subprocess."""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from .synthea_like import hospital_information, patient_bundle, practitioner_information

Run = Callable[..., subprocess.CompletedProcess[str]]


def ndjson(resources: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


def bulk_patients() -> list[dict[str, Any]]:
    """Two patients as a bulk export writes them: ids of the source server, no fullUrl."""
    return [
        {"resourceType": "Patient", "id": "src-p1", "gender": "female", "birthDate": "1980-02-03"},
        {"resourceType": "Patient", "id": "src-p2", "gender": "male", "birthDate": "1975-06-07"},
    ]


def bulk_observations() -> list[dict[str, Any]]:
    """Observations referring to the bulk patients by their source ids (``Patient/src-p1``)."""
    return [
        {
            "resourceType": "Observation",
            "id": f"src-o{i}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/src-p{1 + i % 2}"},
            "effectiveDateTime": f"2024-01-0{1 + i}",
            "valueQuantity": {"value": 60 + i, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
        }
        for i in range(3)
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A folder: Synthea's shared-data Bundles, one patient transaction Bundle, Observations (NDJSON,
    sorted before the Patients they refer to), a .zip with a second patient Bundle and the Patients
    as a .ndjson.gz inside a .tar.gz. 22 + 22 + 3 + 4 + 2 + 3 = 56 resources."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "hospitalInformation1.json").write_bytes(orjson.dumps(hospital_information()))
    (folder / "practitionerInformation1.json").write_bytes(orjson.dumps(practitioner_information()))
    (folder / "Alice_Doe_1.json").write_bytes(orjson.dumps(patient_bundle(1)))
    (folder / "Observation.ndjson").write_bytes(ndjson(bulk_observations()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fhir/Bob_Roe_2.json", orjson.dumps(patient_bundle(2)))
    (folder / "more.zip").write_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        content = gzip.compress(ndjson(bulk_patients()))
        info = tarfile.TarInfo("bulk/Patient.ndjson.gz")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    (folder / "bulk.tar.gz").write_bytes(buffer.getvalue())
    return folder


EXPECTED = {
    "Claim": 6,
    "Condition": 6,
    "Encounter": 6,
    "Observation": 27,
    "Organization": 3,
    "Patient": 4,
    "Practitioner": 4,
}


@pytest.fixture
def run_cli() -> Run:
    """``run_cli("load", path, ..., check=None)``: the real command in a subprocess (stdout, stderr, returncode)."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clinikfhir.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(Path.cwd())},
        )

    return run


@contextmanager
def sandbox_command(*args: str, banner_lines: int = 1) -> Generator[tuple[str, list[str]], None, None]:
    """``clinikfhir sandbox --port 0 ARGS`` in a subprocess, for the block: (its origin, the first
    ``banner_lines`` lines it printed). Stopped with SIGTERM at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinikfhir.cli", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(banner_lines)]
        match = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
        assert match, banner
        yield match.group(0), banner
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
