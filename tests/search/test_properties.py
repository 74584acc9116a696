"""Property tests: any value survives escaping and the spec's unescaping; OR/AND structure is kept."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinikfhir import Clinik
from clinikfhir.errors import InvalidArgumentError
from clinikfhir.models import HumanName, Patient
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import PatientQuery, escape, split_unescaped, unescape

values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
specials = st.text(alphabet="\\,|$ab", max_size=20)
any_value = st.one_of(values, specials)


@given(any_value)
def test_escape_round_trips(value: str) -> None:
    assert unescape(escape(value)) == value


@given(any_value)
def test_escaped_value_has_no_bare_separators(value: str) -> None:
    for sep in ",|$":
        assert split_unescaped(escape(value), sep) == [escape(value)]


@given(st.lists(any_value, min_size=1, max_size=5))
def test_or_values_split_back_exactly(parts: list[str]) -> None:
    ((name, value),) = PatientQuery().name(*parts).params()
    assert name == "name"
    assert [unescape(p) for p in split_unescaped(value, ",")] == parts


@given(st.lists(st.lists(any_value, min_size=1, max_size=3), min_size=1, max_size=4))
def test_and_of_ors_keeps_its_structure(groups: list[list[str]]) -> None:
    q = PatientQuery()
    for group in groups:
        q = q.family(*group)
    decoded = [[unescape(p) for p in split_unescaped(v, ",")] for n, v in q.params() if n == "family"]
    assert decoded == groups


@given(st.lists(st.tuples(st.one_of(st.none(), any_value), any_value), min_size=1, max_size=4))
def test_token_system_and_code_split_back(tokens: list[tuple[str | None, str]]) -> None:
    ((_, value),) = PatientQuery().identifier(*tokens).params()
    back = []
    for alternative in split_unescaped(value, ","):
        system, code = split_unescaped(alternative, "|")
        back.append((unescape(system), unescape(code)))
    assert back == [(s or "", c) for s, c in tokens]


names = st.text(alphabet=st.sampled_from("ab \\,|$&=+%#?é"), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s.strip() != ""
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=names)
def test_any_name_is_found_exactly_by_the_sandbox(sandbox: Sandbox, api_key: str, family: str) -> None:
    """End to end: the builder's escaping and the sandbox's unescaping agree on every value."""
    with Clinik(api_key, base_url=sandbox.base_url, transport=sandbox.transport()) as clinik:
        created = clinik.create(Patient(name=[HumanName(family=family)]))
        found = [p.id for p in clinik.search(Patient).family.exact(family).iter()]
        assert found == [created.id]
        clinik.delete(Patient, created.id or "")


_ILLEGAL_AFTER_BACKSLASH = st.characters(codec="utf-8", exclude_categories=("Cs",)).filter(lambda c: c not in "\\,|$")


@given(any_value, _ILLEGAL_AFTER_BACKSLASH, any_value)
def test_illegal_escape_is_refused_without_echo(before: str, char: str, after: str) -> None:
    value = escape(before) + "\\" + char + escape(after)
    for read in (unescape, lambda v: split_unescaped(v, ","), lambda v: split_unescaped(v, "|")):
        with pytest.raises(InvalidArgumentError, match="invalid escape") as err:
            read(value)
        # one fixed message, whatever the value: nothing of it is echoed
        assert str(err.value) == (
            "invalid escape in a search value: a backslash may only precede \\ , | or $ "
            "(FHIR R4 search, 'Escaping search parameters')"
        )


@given(any_value)
def test_trailing_lone_backslash_is_refused(before: str) -> None:
    value = escape(before) + "\\"
    for read in (unescape, lambda v: split_unescaped(v, "$")):
        with pytest.raises(InvalidArgumentError, match="lone backslash") as err:
            read(value)
        assert str(err.value) == (
            "invalid escape in a search value: it ends with a lone backslash (write \\\\ for a literal backslash)"
        )
