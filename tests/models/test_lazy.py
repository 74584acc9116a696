"""Importing the SDK and the model surface stays cheap: no model module, no plan is loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import sys
import clinikfhir, clinikfhir.models
prefixes = ("fhir.resources", "fhir_core", "pydantic", "clinikfhir._generated.model_plans.")
loaded = sorted(m for m in sys.modules if m.startswith(prefixes))
print(",".join(loaded))
from clinikfhir.models import parse
parse({"resourceType": "Patient", "name": [{"family": "X"}]})
plans = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("clinikfhir._generated.model_plans."))
print(",".join(plans))
"""


def test_import_loads_no_model_and_plans_load_per_class() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == ""
    plans = set(out[1].split(","))
    assert {"patient", "humanname"} <= plans
    assert not {"observation", "bundle"} & plans
    assert len(plans) < 10


@pytest.mark.parametrize("name", ["Patient", "Observation", "HumanName", "GenericResource"])
def test_lazy_names_resolve(name: str) -> None:
    import clinikfhir.models as models

    assert getattr(models, name).__name__ == name
    assert name in dir(models)
