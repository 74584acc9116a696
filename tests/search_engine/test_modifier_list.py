"""The advertised modifiers (``parameter_modifiers``, in the CapabilityStatement) are exactly the
modifiers ``run`` accepts, parameter by parameter, for a sample of types."""

from __future__ import annotations

import pytest

from clinikfhir._generated.search_parameters import ParamDef
from clinikfhir.sandbox.search import SUPPORTED_MODIFIERS, SearchError, parameter_modifiers, supported_parameters

from .conftest import Store

# every modifier any kind knows, R4 and R5 names, and nonsense
UNIVERSE = sorted(
    {m for mods in SUPPORTED_MODIFIERS.values() for m in mods}
    | {"exact", "contains", "above", "below", "identifier", "iterate", "type", "code-text", "text-advanced", "bogus"}
)
SAMPLE_VALUES = {
    "token": "http://x|a",
    "string": "a",
    "date": "2024-01-01",
    "number": "1",
    "quantity": "1",
    "reference": "Patient/1",
    "uri": "http://x",
    "composite": "a$1",
    "special": "1|1|1|km",
}
TYPES = ("Patient", "Observation", "Encounter", "Condition", "Location", "ValueSet", "RiskAssessment", "List")


def _accepts(store: Store, rtype: str, pdef: ParamDef, modifier: str) -> bool:
    value = "true" if modifier == "missing" else SAMPLE_VALUES[pdef.type]
    if modifier in ("in", "not-in"):
        value = "http://hl7.org/fhir/ValueSet/administrative-gender"
    try:
        result = store.run(rtype, [(f"{pdef.code}:{modifier}", value)], lenient=True)
    except SearchError as err:  # the modifier was accepted; this sample value is not a valid one
        if err.code == "TENANT_CONFLICT":
            return False  # refused by the tenant rule (_tag:missing): not advertised either
        message = err.message
    else:
        return not result.warnings
    assert "modifier" not in message.lower()
    return True


@pytest.mark.parametrize("rtype", TYPES)
def test_advertised_modifiers_are_exactly_the_accepted_ones(store: Store, rtype: str) -> None:
    for pdef in supported_parameters(rtype):
        candidates = set(UNIVERSE) | set(pdef.targets)
        accepted = {m for m in sorted(candidates) if _accepts(store, rtype, pdef, m)}
        advertised = set(parameter_modifiers(pdef)) | (set(pdef.targets) if pdef.type == "reference" else set[str]())
        assert accepted == advertised, (rtype, pdef.code)


def test_id_modifiers_have_their_own_semantics(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p1"})
    store.put({"resourceType": "Patient", "id": "female"})
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert store.ids("Patient", "_id:not=p2") == ["female", "p1"]
    assert store.ids("Patient", "_id:text=p1") == []  # an id has no text
    assert store.ids("Patient", f"_id:in={gender}") == ["female"]  # the id as a system-less code
    assert store.ids("Patient", f"_id:not-in={gender}") == ["p1"]
    for bad in ("_id:of-type=a|b|p1", "_id:in=http://example.org/unknown-vs"):
        with pytest.raises(SearchError):
            store.ids("Patient", bad)
