"""The sandbox's CapabilityStatement claims nothing the search engine refuses: every listed
parameter, modifier, include and revinclude is answered (200), and the R4 features the engine
does not implement are neither listed nor answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS
from clinikfhir._wire import MODIFIER_EXTENSION, MODIFIERS_LISTED_EXTENSION
from clinikfhir.models import parse
from clinikfhir.sandbox import Sandbox
from clinikfhir.sandbox.search._valuesets import known_value_sets

TYPES = ["Patient", "Observation", "Encounter", "MedicationRequest", "Location", "SubstanceProtein"]


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    key = sandbox.create_key("org_caps")
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport(), headers={"x-api-key": key}) as c:
        yield c


@pytest.fixture
def statement(client: httpx.Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/v1/metadata").json()
    return data


def resource_entry(statement: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(r for r in statement["rest"][0]["resource"] if r["type"] == rtype)


def value_for(rtype: str, ptype: str, code: str, modifier: str | None) -> str:
    """A syntactically valid value for the parameter (with this modifier)."""
    if modifier == "missing":
        return "true"
    if modifier in ("in", "not-in"):
        return known_value_sets()[0]
    if modifier == "of-type":
        return "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"
    if modifier == "identifier":
        return "urn:mrn|123"
    if modifier is not None and modifier[:1].isupper():
        return "some-id"
    if code == "near":
        return "42.25|-83.69|10|km"
    if ptype == "composite":
        params = SEARCH_PARAMETERS[rtype]
        parts = [params[c] for c, _ in params[code].components]
        return "$".join(value_for(rtype, part.type, part.code, None) for part in parts)
    return {"date": "2024-01-01", "number": "5", "quantity": "5"}.get(ptype, "x")


def test_the_statement_parses_and_says_modifiers_are_listed(statement: dict[str, Any]) -> None:
    assert parse(statement, strict=True).__resource_type__ == "CapabilityStatement"
    assert {"url": MODIFIERS_LISTED_EXTENSION, "valueBoolean": True} in statement["rest"][0]["extension"]


@pytest.mark.parametrize("rtype", TYPES)
def test_every_listed_parameter_and_modifier_is_answered(
    client: httpx.Client, statement: dict[str, Any], rtype: str
) -> None:
    refused: list[str] = []
    for sp in resource_entry(statement, rtype)["searchParam"]:
        name, ptype = sp["name"], sp["type"]
        modifiers = [e["valueCode"] for e in sp.get("extension", []) if e["url"] == MODIFIER_EXTENSION]
        if "type" in modifiers:  # :[type], every target type of the reference
            modifiers = [m for m in modifiers if m != "type"] + list(SEARCH_PARAMETERS[rtype][name].targets)
        for modifier in [None, *modifiers]:
            wire = name if modifier is None else f"{name}:{modifier}"
            response = client.get(f"/v1/fhir/{rtype}", params={wire: value_for(rtype, ptype, name, modifier)})
            if response.status_code != 200:
                refused.append(f"{wire}: {response.status_code}")
    assert refused == []


@pytest.mark.parametrize("rtype", TYPES)
def test_every_listed_include_and_revinclude_is_answered(
    client: httpx.Client, statement: dict[str, Any], rtype: str
) -> None:
    entry = resource_entry(statement, rtype)
    assert "*" in entry["searchInclude"]
    assert "*" in entry["searchRevInclude"]
    refused: list[str] = []
    for field, name in (("searchInclude", "_include"), ("searchRevInclude", "_revinclude")):
        for value in entry[field]:
            for wire in (name, f"{name}:iterate"):
                response = client.get(f"/v1/fhir/{rtype}", params={wire: value})
                if response.status_code != 200:
                    refused.append(f"{wire}={value}: {response.status_code}")
    assert refused == []


def test_what_the_engine_lacks_is_neither_listed_nor_answered(client: httpx.Client, statement: dict[str, Any]) -> None:
    params = {sp["name"]: sp for sp in resource_entry(statement, "Observation")["searchParam"]}
    listed = {name: {e["valueCode"] for e in sp.get("extension", [])} for name, sp in params.items()}
    assert "_query" not in params
    assert {"above", "below"}.isdisjoint(listed["code"])  # token :above/:below are not implemented
    assert "text" not in listed["_profile"]
    assert "Observation:code" not in resource_entry(statement, "Observation")["searchInclude"]
    for wire, value in [
        ("_query", "x"),
        ("code:above", "http://loinc.org|8867-4"),
        ("code:below", "http://loinc.org|8867-4"),
        ("_profile:text", "x"),
    ]:
        assert client.get("/v1/fhir/Observation", params={wire: value}).status_code == 400, wire
    assert client.get("/v1/fhir/Observation", params={"_include": "Observation:code"}).status_code == 400


def _empty_containers(node: object, path: str) -> list[str]:
    """Paths of every empty array or object under ``node`` (R4 JSON forbids both)."""
    if isinstance(node, dict):
        found = [path] if not node else []
        for key, child in node.items():
            found += _empty_containers(child, f"{path}.{key}")
        return found
    if isinstance(node, list):
        found = [path] if not node else []
        for i, child in enumerate(node):
            found += _empty_containers(child, f"{path}[{i}]")
        return found
    return []


def test_the_statement_has_no_empty_arrays_or_objects_and_validates(statement: dict[str, Any]) -> None:
    from clinikfhir.validation import has_errors, validate

    assert _empty_containers(statement, "CapabilityStatement") == []
    issues = validate(statement)
    assert not has_errors(issues), [(i.path, i.message) for i in issues if i.severity in ("error", "fatal")][:10]
    # a parameter without modifiers (_list) simply has no extension
    patient = resource_entry(statement, "Patient")
    list_param = next(p for p in patient["searchParam"] if p["name"] == "_list")
    assert "extension" not in list_param
