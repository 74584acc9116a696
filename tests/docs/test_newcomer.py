"""What a newcomer reads before writing any code is true: the licence shipped, the install advice, the
sandbox's banner (its base URL works as ``base_url``), the README's test commands."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from clinikfhir import Clinik
from clinikfhir._demo import install_advice
from clinikfhir.models import Patient

ROOT = Path(__file__).resolve().parents[2]
# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the standard text
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_licence_is_the_standard_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"Apache License" in text
    assert b"Version 2.0, January 2004" in text


def test_the_licence_is_an_spdx_string_with_its_file() -> None:
    data = pyproject()
    project = data["project"]
    assert isinstance(project, dict)
    assert project["license"] == "Apache-2.0"  # the TOML table form stops building in 2027
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # forbidden beside an SPDX string
    build = data["build-system"]
    assert isinstance(build, dict)
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in build["requires"])


@pytest.mark.slow
def test_the_wheel_ships_the_licence_and_the_plugin_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("clinikfhir-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert hashlib.sha256(zf.read(licence)).hexdigest() == APACHE_2_SHA256
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert "[pytest11]\nclinikfhir = clinikfhir.testing.plugin" in entry_points
    assert "clinikfhir/py.typed" in names


def test_ci_venv_is_ignored() -> None:
    assert ".ci-venv/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_the_install_advice_names_a_real_checkout() -> None:
    advice = install_advice()
    assert "not on PyPI yet" in advice
    match = re.search(r"pip install '([^']+)'", advice)
    assert match is not None  # this test runs from a checkout, so the advice names it
    checkout = Path(match.group(1))
    assert tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"] == "clinikfhir"


def test_the_readme_gives_the_test_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -e '.[dev]' --config-settings editable_mode=compat && python -m pytest\n" in readme
    assert 'python -m pytest -m "not slow"' in readme
    markers = pyproject()["tool"]["pytest"]["ini_options"]["markers"]  # type: ignore[index]
    assert any(m.startswith("slow:") for m in markers)


def test_the_sandbox_banner_base_url_works_as_base_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinikfhir.cli", "sandbox", "--port", "0", "--tenant", "org_banner"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        banner = "".join(lines)
        base = re.search(r"base URL for clients: (http://127\.0\.0\.1:\d+)\s", banner)
        key = re.search(r"(clk_test_\w+)\s+tenant=org_banner", banner)
        assert base is not None, banner
        assert key is not None, banner
        with Clinik(key.group(1), base_url=base.group(1)) as clinik:
            created = clinik.create(Patient(gender="female"))
            assert created.id is not None
            assert clinik.read(Patient, created.id).gender == "female"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
