"""The FHIRPath runtime of compiled invariants: empty propagation, three-valued logic, ordering."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinikfhir.validation import _fp as fp

T, F, E = [True], [False], []


@pytest.mark.parametrize(
    ("op", "a", "b", "out"),
    [
        (fp.op_and, T, T, T),
        (fp.op_and, T, E, E),
        (fp.op_and, F, E, F),
        (fp.op_and, E, E, E),
        (fp.op_or, F, F, F),
        (fp.op_or, E, T, T),
        (fp.op_or, E, F, E),
        (fp.op_xor, T, F, T),
        (fp.op_xor, T, T, F),
        (fp.op_xor, E, T, E),
        (fp.op_implies, F, E, T),
        (fp.op_implies, T, E, E),
        (fp.op_implies, E, T, T),
        (fp.op_implies, E, F, E),
        (fp.op_implies, T, F, F),
    ],
)
def test_three_valued_logic(op: object, a: list[bool], b: list[bool], out: list[bool]) -> None:
    assert op(a, b) == out  # type: ignore[operator]


def test_navigation_choices_and_primitive_extensions() -> None:
    obs = {
        "valueQuantity": {"value": 1},
        "_status": {"extension": []},
        "code": {"coding": [{"code": "a"}, {"code": "b"}]},
    }
    assert fp.nav([obs], "value", True) == [{"value": 1}]
    assert fp.nav([obs], "value", False) == []
    assert fp.nav([obs], "status", False) == [fp.NO_VALUE]
    assert fp.f_has_value(fp.nav([obs], "status", False)) == F
    assert fp.f_exists_plain(fp.nav([obs], "status", False)) == T
    assert fp.nav(fp.nav(fp.nav([obs], "code", True), "coding", False), "code", True) == ["a", "b"]


@pytest.mark.parametrize(
    ("a", "b", "le"),
    [
        ("2020-01-01", "2020-01-02", T),
        ("2020-01-02", "2020-01-01", F),
        ("2020-01", "2020-01-15", E),  # different precision, same month: not comparable
        ("2020-01", "2020-02-15", T),
        ("2020-01-01T10:00:00+02:00", "2020-01-01T07:30:00Z", F),
        ("2020-01-01T10:00:00+02:00", "2020-01-01T08:00:00Z", T),
        ("2020-01-01T10:00:00.5Z", "2020-01-01T10:00:00.25Z", F),
        (1, 2, T),
        (Decimal("2.50"), 2.5, T),
        (3, 2.5, F),
        ("b", "a", F),
    ],
)
def test_ordering(a: object, b: object, le: list[bool]) -> None:
    assert fp.op_le([a], [b]) == le


def test_quantity_ordering_needs_the_same_unit() -> None:
    assert fp.op_le([{"value": 1, "code": "mg"}], [{"value": 2, "code": "mg"}]) == T
    assert fp.op_le([{"value": 1, "code": "mg"}], [{"value": 2, "code": "g"}]) == E


def test_collection_functions() -> None:
    assert fp.op_eq(["a"], ["a"]) == T
    assert fp.op_eq(["a"], E) == E
    assert fp.op_eq([True], [1]) == F
    assert fp.op_in(["C"], fp.op_union(fp.op_union(["C"], ["CM"]), ["C"])) == T
    assert fp.op_union([1, 2], [2, 3]) == [1, 2, 3]
    assert fp.f_is_distinct([{"a": 1}, {"a": 1}]) == F
    assert fp.f_intersect([{"s": 1}, {"s": 2}], [{"s": 2}]) == [{"s": 2}]
    assert fp.f_descendants([{"item": [{"linkId": "1", "item": [{"linkId": "2"}]}]}])[-1] == "2"
    assert fp.f_where([1, 2, 3], lambda t: [t > 1]) == [2, 3]
    assert fp.f_all([], lambda t: F) == T
    assert fp.f_select([{"a": [1, 2]}, {"a": 3}], lambda t: fp.nav([t], "a", False)) == [1, 2, 3]
    assert fp.f_iif(E, ["y"], ["n"]) == ["n"]


def test_string_functions() -> None:
    assert fp.f_matches(["Abc"], ["[A-Z]([A-Za-z0-9_]){0,254}"]) == T
    assert fp.f_matches(["abc"], ["^[A-Z]"]) == F
    assert fp.f_starts_with(["#x"], ["#"]) == T
    assert fp.f_substring(["#x"], [1]) == ["x"]
    assert fp.f_substring(["#"], [1]) == E
    assert fp.f_to_integer(["42"]) == [42]
    assert fp.f_to_integer(["4.2"]) == E
    assert fp.f_to_string([True]) == ["true"]
    assert fp.op_concat(["a"], E) == ["a"]
    assert fp.f_replace_matches(["a.b"], ["\\..*"], [""]) == ["a"]
