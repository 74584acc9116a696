"""Token values: a string is read as the wire writes it (``system|code``), never silently escaped.

``code("http://loinc.org|8867-4")`` (how fhirpy, Medplum and the spec write a system-qualified
token) and ``code(("http://loinc.org", "8867-4"))`` mean the same and send the same pair; a ``|``
that belongs to a code is escaped (``\\|``) in the string form and left as is in the tuple form.
Checked both as query strings and against the sandbox's search engine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clinikfhir import Clinik, InvalidArgumentError
from clinikfhir.models import CodeableConcept, Coding, Observation
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationQuery, PatientQuery

LOINC = "http://loinc.org"


@pytest.mark.parametrize(
    ("string", "pair", "wire"),
    [
        ("http://loinc.org|8867-4", (LOINC, "8867-4"), "http://loinc.org|8867-4"),
        ("8867-4", None, "8867-4"),
        ("|8867-4", (None, "8867-4"), "|8867-4"),
        ("http://loinc.org|", (LOINC, None), "http://loinc.org|"),
        ("http://x|a\\|b", ("http://x", "a|b"), "http://x|a\\|b"),
        ("http://x|a,b", ("http://x", "a,b"), "http://x|a\\,b"),
        ("http://x|a\\,b", ("http://x", "a,b"), "http://x|a\\,b"),
        ("a$b", None, "a\\$b"),
        ("a\\\\b", None, "a\\\\b"),
    ],
)
def test_string_and_tuple_spellings_send_the_same_wire_value(
    string: str, pair: tuple[str | None, str | None] | None, wire: str
) -> None:
    assert ObservationQuery().code(string).params() == (("code", wire),)
    if pair is not None:
        assert ObservationQuery().code(pair).params() == (("code", wire),)


def test_every_token_modifier_and_token_kind_reads_the_separator() -> None:
    q = ObservationQuery().code.not_("http://loinc.org|8867-4").identifier("urn:mrn|123").subject.identifier("s|v")
    assert q.params() == (
        ("code:not", "http://loinc.org|8867-4"),
        ("identifier", "urn:mrn|123"),
        ("subject:identifier", "s|v"),
    )
    # composite token parts follow the same rule
    combo = ObservationQuery().code_value_concept(("http://loinc.org|8867-4", "|N"))
    assert combo.params() == (("code-value-concept", "http://loinc.org|8867-4$|N"),)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("http://x|a|b", "one unescaped '|' at most"),
        ("|", "needs a system or a code"),
        ("a\\b", "invalid escape"),
        ("ab\\", "lone backslash"),
    ],
)
def test_ambiguous_or_malformed_strings_are_refused_without_echoing_them(value: str, needle: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        ObservationQuery().code(value)
    message = str(info.value)
    assert needle in message
    assert "search parameter code" in message
    if needle.startswith("one"):
        # the message shows both correct spellings of a code containing '|'
        assert '"http://x|a\\|b"' in message
        assert '("http://x", "a|b")' in message


def test_text_and_in_are_not_tokens_so_a_bar_stays_data() -> None:
    assert PatientQuery().gender.text("a|b").params() == (("gender:text", "a\\|b"),)


@pytest.fixture
def clinik(sandbox: Sandbox, api_key: str) -> Iterator[Clinik]:
    with Clinik(api_key, base_url=sandbox.base_url, transport=sandbox.transport()) as client:
        yield client


def _obs(system: str, code: str) -> Observation:
    return Observation(status="final", code=CodeableConcept(coding=[Coding(system=system, code=code)]))


def test_the_sandbox_finds_system_qualified_strings_and_codes_with_a_bar(clinik: Clinik) -> None:
    heart = clinik.create(_obs(LOINC, "8867-4"))
    barred = clinik.create(_obs("http://x", "a|b"))
    clinik.create(_obs("http://other", "8867-4"))

    def ids(q: ObservationQuery[Clinik]) -> set[str | None]:
        return {o.id for o in q.iter()}

    assert ids(clinik.search(Observation).code("http://loinc.org|8867-4")) == {heart.id}
    assert ids(clinik.search(Observation).code((LOINC, "8867-4"))) == {heart.id}
    assert len(ids(clinik.search(Observation).code("8867-4"))) == 2
    assert ids(clinik.search(Observation).code("http://x|a\\|b")) == {barred.id}
    assert ids(clinik.search(Observation).code(("http://x", "a|b"))) == {barred.id}
    assert ids(clinik.search(Observation).code(("http://x", "a"))) == set()
