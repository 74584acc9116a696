"""Issue 12: the trusted read path runs only on the pydantic and fhir.resources versions it was made
and tested for; on others every read is validated by pydantic instead, with one warning."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from conftest import exact, json_diff

from clinikfhir._generated.model_index import FHIR_RESOURCES_VERSION
from clinikfhir.models import GenericResource, ModelParseError, decode, dump, parse, resource_class
from clinikfhir.models._versions import (
    PYDANTIC_TESTED,
    ModelVersionWarning,
    installed_versions,
    simulate_versions,
    untested_versions,
)


@pytest.mark.parametrize("pydantic_version", ["2.7.4", "2.9.0", "2.14.4", "2.14.99", "2.11.0.post1", " 2.12.1 "])
def test_tested_pydantic_releases_with_the_planned_fhir_resources_are_trusted(pydantic_version: str) -> None:
    assert untested_versions(pydantic_version, FHIR_RESOURCES_VERSION) is None


@pytest.mark.parametrize(
    "pydantic_version", ["2.7.3", "2.6.4", "1.10.17", "2.15.0", "2.15", "3.0.0", "2.15.0b1", "2.14.0.dev1", "", "x"]
)
def test_other_pydantic_releases_are_not(pydantic_version: str) -> None:
    reason = untested_versions(pydantic_version, FHIR_RESOURCES_VERSION)
    assert reason == f"pydantic {pydantic_version} is outside the tested range >=2.7.4,<2.15.0"


def test_only_the_planned_fhir_resources_release_is_trusted() -> None:
    assert FHIR_RESOURCES_VERSION == "8.3.0"
    for other in ("8.3.1", "8.2.0", "7.1.0", "8.3"):
        assert untested_versions("2.14.4", other) == (
            f"fhir.resources {other} is not 8.3.0, the version the plans were made for"
        )
    both = untested_versions("2.6.0", "8.4.0")
    assert both is not None
    assert "pydantic 2.6.0" in both
    assert "fhir.resources 8.4.0" in both


def test_the_installed_versions_are_trusted() -> None:
    # this environment (CI and .ci/pydantic-range) runs what the pin allows: the fast path is in use
    pydantic_version, fhir_version = installed_versions()
    assert untested_versions(pydantic_version, fhir_version) is None
    low, high = PYDANTIC_TESTED
    assert low == (2, 7, 4)
    assert high == (2, 15, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with simulate_versions() as trusted:
            assert trusted


def read_all(chosen: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Each example parsed (None where it is refused)."""
    out: dict[str, Any] = {}
    for name, raw in chosen:
        try:
            out[name] = parse(raw)
        except ModelParseError:
            out[name] = None
    return out


def strict_reads() -> tuple[list[str], bool | None]:
    """(paths of the problems of a strict read of an invalid Patient, ``active`` of a valid one)."""
    with pytest.raises(ModelParseError) as caught:
        parse({"resourceType": "Patient", "active": "yes"}, strict=True)
    return [path for path, _ in caught.value.problems], parse({"resourceType": "Patient", "active": True}).active


def test_other_versions_read_through_validation_to_equal_models(examples: list[tuple[str, bytes]]) -> None:
    from pydantic import ValidationError

    chosen = [(n, raw) for n, raw in examples if n.startswith(("Patient-", "Observation-", "Bundle-", "Medicinal"))]
    assert len(chosen) > 60
    trusted = {name: parse(raw) for name, raw in chosen}
    with pytest.warns(ModelVersionWarning) as caught, simulate_versions(pydantic_version="2.6.4") as used:
        fallback = read_all(chosen)
    assert not used
    assert [str(w.message) for w in caught] == [
        "pydantic 2.6.4 is outside the tested range >=2.7.4,<2.15.0: clinikfhir reads models through pydantic "
        "validation instead of its fast path"
    ]  # one warning, however many reads
    compared = 0
    for name, raw in chosen:
        data = decode(raw)
        try:
            reference = resource_class(data["resourceType"]).model_validate(data)
        except (ValidationError, KeyError):
            reference = None  # content R4B cannot validate: the fallback refuses it too
        if isinstance(trusted[name], GenericResource):
            assert isinstance(fallback[name], GenericResource), name
            assert dump(fallback[name]) == dump(trusted[name]), name
            continue
        if reference is None:
            assert fallback[name] is None, name
            continue
        compared += 1
        assert fallback[name] == trusted[name] == reference, name
        assert json_diff(exact(raw), exact(dump(fallback[name]))) == [], name  # still lossless
    assert compared > 60
    # outside the block the fast path is back, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse(chosen[0][1]) == trusted[chosen[0][0]]


def test_a_fhir_resources_mismatch_validates_strict_reads_too() -> None:
    with (
        pytest.warns(ModelVersionWarning, match="fhir.resources 8.4.0"),
        simulate_versions(fhir_resources_version="8.4.0"),
    ):
        problems, active = strict_reads()
    assert problems == ["Patient.active"]
    assert active is True


def test_the_tested_range_is_the_pin() -> None:
    # pyproject.toml's pin, .ci/pydantic-range (which reads it) and the run-time check say the same
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    [pin] = [d for d in project["project"]["dependencies"] if d.startswith("pydantic")]
    low, high = PYDANTIC_TESTED
    assert pin == f"pydantic>={'.'.join(map(str, low))},<{high[0]}.{high[1]}"
