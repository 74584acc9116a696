"""The generated search code: loaded lazily, and its table faithful to the R4 definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clinikfhir._generated.resource_types import R4_ONLY_TYPES, RESOURCE_TYPES
from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return set(out.split())


def test_import_clinikfhir_loads_no_query_class() -> None:
    loaded = _modules_after("import clinikfhir, clinikfhir.search")
    assert not [m for m in loaded if m.startswith("clinikfhir._generated.search_queries.")]
    assert "clinikfhir._generated.search_parameters" not in loaded


def test_one_query_class_does_not_import_the_others() -> None:
    loaded = _modules_after("from clinikfhir.search import ObservationQuery")
    generated = sorted(m for m in loaded if m.startswith("clinikfhir._generated.search_queries."))
    others = [m for m in generated if not m.startswith("clinikfhir._generated.search_queries._refs")]
    assert others == ["clinikfhir._generated.search_queries.observation"]
    assert not [m for m in loaded if m.startswith("fhir.resources.R4B.")]


def test_every_r4_type_has_a_query_class_with_every_parameter() -> None:
    from clinikfhir.search import query_class

    assert len(RESOURCE_TYPES) == 146
    assert set(SEARCH_PARAMETERS) == set(RESOURCE_TYPES)
    for rtype in ("Observation", "SubstanceProtein", "Binary"):
        cls = query_class(rtype)
        assert cls.resource_type == rtype
        assert all(hasattr(cls, _py(code)) for code in SEARCH_PARAMETERS[rtype])
    assert "SubstanceProtein" in R4_ONLY_TYPES


def _py(code: str) -> str:
    from clinikfhir.search import python_name

    return python_name(code)


def test_name_mapping_is_as_documented() -> None:
    from clinikfhir.search import python_name

    assert [
        python_name(c) for c in ("address-city", "_id", "_lastUpdated", "class", "code-value-quantity", "type")
    ] == [
        "address_city",
        "id_",
        "last_updated_",
        "class_",
        "code_value_quantity",
        "type",
    ]


def test_every_definition_lands_on_each_of_its_bases() -> None:
    definitions = json.loads((ROOT / "codegen/data/search-parameters.json").read_text())
    assert len(definitions) == 1375
    for d in definitions:
        bases = sorted(RESOURCE_TYPES) if d["base"][0] in ("Resource", "DomainResource") else d["base"]
        for base in bases:
            assert SEARCH_PARAMETERS[base][d["code"]].url == d["url"]


def test_union_expressions_are_split_per_base() -> None:
    assert SEARCH_PARAMETERS["Observation"]["code"].expression == "Observation.code"
    assert SEARCH_PARAMETERS["Condition"]["code"].expression == "Condition.code"
    assert SEARCH_PARAMETERS["Patient"]["_id"].expression == "Patient.id"
    assert SEARCH_PARAMETERS["Observation"]["value-quantity"].expression == (
        "(Observation.value as Quantity) | (Observation.value as SampledData)"
    )
    assert SEARCH_PARAMETERS["Observation"]["patient"].expression == "Observation.subject.where(resolve() is Patient)"
    assert SEARCH_PARAMETERS["InsurancePlan"]["name"].expression == "InsurancePlan.name | InsurancePlan.alias"
    for rtype, params in SEARCH_PARAMETERS.items():
        for p in params.values():
            for branch in filter(None, (b.strip().lstrip("(") for b in p.expression.split(" | "))):
                assert branch.split(".")[0].split(" ")[0] == rtype, (rtype, p.code)


def test_targets_are_narrowed_to_the_element() -> None:
    assert SEARCH_PARAMETERS["Observation"]["subject"].targets == ("Device", "Group", "Location", "Patient")
    assert SEARCH_PARAMETERS["Observation"]["patient"].targets == ("Patient",)
    assert SEARCH_PARAMETERS["Observation"]["encounter"].targets == ("Encounter",)


def test_composite_components_name_their_parameters() -> None:
    cvq = SEARCH_PARAMETERS["Observation"]["code-value-quantity"]
    assert cvq.components == (("code", "code"), ("value-quantity", "value.as(Quantity)"))
    assert SEARCH_PARAMETERS["Observation"]["date"].comparators[:3] == ("eq", "ne", "gt")
    assert SEARCH_PARAMETERS["Observation"]["code"].description == "The code of the observation type"
