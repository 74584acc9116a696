"""The 818 official R4 examples: every valid one passes, the known-invalid ones fail exactly as listed."""

from __future__ import annotations

import pytest

from clinikfhir.validation import has_errors, validate

from ._corpus import KNOWN_INVALID, examples, load, valid_names


def test_corpus_size_and_known_invalid_are_present() -> None:
    assert len(examples()) == 818
    assert set(KNOWN_INVALID) <= set(examples())
    assert len(valid_names()) == 818 - len(KNOWN_INVALID) == 796


@pytest.mark.slow
def test_every_valid_example_passes() -> None:
    rejected = {}
    for name in valid_names():
        errors = [i for i in validate(load(name)) if i.is_error]
        if errors:
            rejected[name] = [str(i) for i in errors]
    assert rejected == {}


@pytest.mark.parametrize("name", sorted(KNOWN_INVALID))
def test_known_invalid_example_fails_exactly_as_listed(name: str) -> None:
    issues = validate(load(name))
    assert has_errors(issues)
    assert {(i.key, i.path) for i in issues if i.is_error} == KNOWN_INVALID[name]


def test_only_warnings_left_at_error_level() -> None:
    # the severity policy: level="error" drops dom-6 and the name-format warnings of the corpus
    name = "Patient-example.json"
    data = load(name)
    del data["text"]
    assert [i.key for i in validate(data)] == ["dom-6"]
    assert validate(data, level="error") == []
    assert validate(data, ignore={"dom-6"}) == []
