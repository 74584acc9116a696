"""Search value escaping (FHIR R4 "Escaping search parameters"): ``\\,`` ``\\|`` ``\\$`` ``\\\\`` are
literal characters, any other backslash is illegal (400 naming the parameter, value not echoed);
the engine and the client read values with the one definition in ``clinikfhir._syntax``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox.search import SearchError
from clinikfhir.search import escape

from .conftest import Store


@pytest.mark.parametrize("value", ["a\\b", "smith\\", "x\\n", "a,b\\c", "a\\\\\\", "\\é"])
def test_illegal_escape_is_a_400_naming_the_parameter(store: Store, value: str) -> None:
    store.put({"resourceType": "Patient", "id": "p1", "name": [{"family": value}]})
    for query in ([("family", value)], [("name:exact", value)], [("identifier", "s|" + value)]):
        with pytest.raises(SearchError) as err:
            store.ids("Patient", query)
        assert err.value.status == 400
        assert query[0][0] in err.value.message
        assert value not in err.value.message


def test_escaped_specials_are_literal(store: Store) -> None:
    store.put({"resourceType": "Patient", "id": "p1", "name": [{"family": "a,b|c$d\\e"}]})
    store.put({"resourceType": "Patient", "id": "p2", "name": [{"family": "a"}]})
    assert store.ids("Patient", [("family:exact", "a\\,b\\|c\\$d\\\\e")]) == ["p1"]
    assert store.ids("Patient", [("family:exact", "a\\,b\\|c\\$d\\\\e,a")]) == ["p1", "p2"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab,|$\\ é"), min_size=1, max_size=12).filter(lambda t: t.strip() != ""))
def test_client_escaped_values_round_trip(text: str) -> None:
    store = Store()
    store.put({"resourceType": "Patient", "id": "p1", "name": [{"family": text}]})
    store.put({"resourceType": "Patient", "id": "p2", "name": [{"family": text + "x"}]})
    assert store.ids("Patient", [("family:exact", escape(text))]) == ["p1"]
    assert store.ids("Patient", [("family:exact", escape(text) + "," + escape(text + "x"))]) == ["p1", "p2"]
    store.close()
