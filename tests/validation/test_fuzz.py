"""Whatever JSON is put wherever in a resource, validate returns issues: it never raises, never echoes
the value, and every issue has a path under the resource and a rule key."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinikfhir.validation import validate

from ._corpus import load
from .test_mutations import sites

MARK = "Qx7marker"
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8).map(lambda s: MARK + s),
)
json_values = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "extension",
                    "url",
                    "value",
                    "valueString",
                    "code",
                    "system",
                    "reference",
                    "text",
                    "coding",
                    "resourceType",
                    "_value",
                    "start",
                    "end",
                    "family",
                    MARK,
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)
BASES = [
    load(n)
    for n in (
        "Patient-example.json",
        "Observation-example.json",
        "Bundle-bundle-transaction.json",
        "Questionnaire-f201.json",
        "MedicinalProduct-example.json",
    )
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), pick=st.integers(min_value=0), value=json_values, new_key=st.booleans())
def test_validate_survives_any_json_anywhere(base: dict[str, Any], pick: int, value: Any, new_key: bool) -> None:
    data = copy.deepcopy(base)
    places = list(sites(data, data["resourceType"], data["resourceType"]))
    site = places[pick % len(places)]
    if new_key and isinstance(site.value, dict):
        site.value[MARK] = value
    else:
        site.set(value)
    issues = validate(data, level="information")
    for issue in issues:
        assert MARK not in issue.message
        assert MARK not in issue.path or issue.key == "unknown-element"  # the key name itself, not a value
        assert issue.path.startswith(data["resourceType"])
        assert issue.key
        assert issue.severity in ("fatal", "error", "warning", "information")
