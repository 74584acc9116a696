"""``clinikfhir demo`` runs its tour end to end on an embedded sandbox, in-process and over HTTP."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from clinikfhir._demo import run


@pytest.mark.parametrize("http", [False, True])
def test_the_demo_tours_every_step(http: bool) -> None:
    out = io.StringIO()
    assert run(http=http, out=out) == 0
    text = out.getvalue()
    for expected in (
        "1. Create a patient",
        "https://clinikapi.com/tenant|org_demo",
        "clinik.read(Patient, id) -> Patient: Smith, male",
        "now female, given ['John', 'Ann'], version 2",
        "query: code=8867-4&date=ge2024-03-02&_sort=-date&_count=50",
        "total 2",
        "3 Observation, 1 Patient",
        "Observation.status:",
        "Observation.code:",
        "NotFoundError: 404 NOT_FOUND",
    ):
        assert expected in text
    assert "clk_test_" in text
    assert "clk_test_****" in text  # the only form of the key that is ever shown


def test_the_command_line_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from clinikfhir.cli import main; sys.exit(main(['demo']))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "8. A typed error from the gateway" in proc.stdout
