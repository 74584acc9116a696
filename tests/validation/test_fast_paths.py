"""The validator's fast paths answer exactly as the slow forms they stand for (property tests)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cli.synthea_like import hospital_information, patient_bundle, practitioner_information
from hypothesis import given, settings
from hypothesis import strategies as st

import clinikfhir._generated.invariants as invariants
from clinikfhir._structure import check_primitive, primitive_ok, walk_resource
from clinikfhir.validation import _fast as fast
from clinikfhir.validation import _fp as fp
from clinikfhir.validation import validate
from clinikfhir.validation._fast import clean_issues
from clinikfhir.validation._validate import _WARNING_ONLY, _Walker  # pyright: ignore[reportPrivateUsage]

from . import _corpus as corpus
from .test_mutations import build_cases

NAMES = ["value", "valueQuantity", "valueString", "_value", "contained", "meta", "code", "status", "_status"]
leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", "2020-01-01"]))
values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
    max_leaves=12,
)


def reference_nav(coll: list[Any], name: str, choice: bool) -> list[Any]:
    """``nav`` as it was written before its list fast path: every child through ``_add``."""
    out: list[Any] = []
    for item in coll:
        if not isinstance(item, dict):
            continue
        value = item.get(name)
        if value is not None:
            fp._add(out, value)  # pyright: ignore[reportPrivateUsage]
            continue
        ext = item.get("_" + name)
        if ext is not None:
            out.extend([fp.NO_VALUE] * (len(ext) if isinstance(ext, list) else 1))
            continue
        if choice:
            size = len(name)
            for key in item:
                if len(key) > size and key.startswith(name) and key[size].isupper():
                    fp._add(out, item[key])  # pyright: ignore[reportPrivateUsage]
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=4), st.sampled_from(["value", "contained", "status", "meta"]), st.booleans())
def test_nav_is_the_reference_navigation(coll: list[Any], name: str, choice: bool) -> None:
    assert fp.nav(coll, name, choice) == reference_nav(coll, name, choice)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=3), st.lists(values, max_size=3))
def test_eq_is_the_pairwise_equality(a: list[Any], b: list[Any]) -> None:
    if not a or not b:
        expected: list[Any] = []
    elif len(a) != len(b):
        expected = [False]
    else:
        expected = [all(fp._equal(x, y) for x, y in zip(a, b, strict=True))]  # pyright: ignore[reportPrivateUsage]
    assert fp.op_eq(a, b) == expected


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([n for n in NAMES if n != "contained"]), values, max_size=5))
def test_rules_on_contained_resources_hold_when_nothing_is_contained(resource: dict[str, Any]) -> None:
    """The validator skips dom-2, dom-4 and dom-5 on a resource without ``contained``: their compiled
    forms hold on every such resource, whatever else it has."""
    resource = {"resourceType": "Patient", **resource}
    for key in ("dom-2", "dom-4", "dom-5"):
        assert invariants.COMPILED[key]([resource], resource, resource) == [True]


def _policies_agree(data: dict[str, Any]) -> None:
    everything = validate(data, level="information")
    assert validate(data, level="error") == [i for i in everything if i.is_error]
    rules = [*sorted({i.key for i in everything if i.key})[:2], "dom-6", "con-3", "ele-1"]
    assert validate(data, level="error", ignore=rules) == [i for i in everything if i.is_error and i.key not in rules]
    assert validate(data, ignore=rules) == [i for i in everything if i.severity != "information" and i.key not in rules]


def test_only_errors_wanted_skips_warning_rules_with_the_same_answer_on_the_corpus() -> None:
    """``level="error"`` does not evaluate warning-only invariants (dom-6, con-3...) and ``ignore``d
    rules are not evaluated: the issues are exactly those of the full policy, filtered. Every 4th
    official example and every spec example known to be invalid."""
    names = sorted(corpus.examples())
    chosen = set(names[::4]) | set(corpus.KNOWN_INVALID)
    for name in sorted(chosen):
        _policies_agree(corpus.load(name))


@pytest.mark.slow
def test_only_errors_wanted_gives_the_same_answer_on_the_mutation_corpus() -> None:
    """The same on every known-bad mutation of the corpus (each has at least one error)."""
    for _, _, data, _ in build_cases():
        _policies_agree(data)


# -- the clean pass: a resource it calls clean gets no issue from the full walk ------------------------


def _full_walk(data: Any, skip: frozenset[str]) -> list[Any]:
    """The full walk's issues (what ``validate`` returned before the clean pass), before the policy."""
    walker = _Walker(skip=skip)
    walk_resource(walker, data)
    return walker.issues


def _clean_means_no_issue(data: Any) -> bool:
    """Check the clean pass against the full walk under both invariant policies: whenever it knows the
    issues (none, or warnings of the resource's own warning-only invariants), they are the full
    walk's, in its order. Its verdict at ``level="error"``: known clean."""
    verdicts = []
    for skip in (_WARNING_ONLY, frozenset[str]()):
        known = clean_issues(_Walker(skip=skip), data, skip)
        if known is not None:
            assert known == _full_walk(data, skip)
            assert all(i.severity == "warning" for i in known)
        verdicts.append(known == [])
    return verdicts[0]


def test_the_clean_pass_calls_clean_only_what_has_no_issue_on_the_corpus() -> None:
    """Every official example (valid or not): clean only when the full walk finds nothing, and the
    usual valid examples are found clean (the pass is used, not always deferring)."""
    clean = 0
    for name in sorted(corpus.examples()):
        clean += _clean_means_no_issue(corpus.load(name))
    assert clean > len(corpus.valid_names()) // 2


def test_the_clean_pass_finds_load_shaped_resources_clean() -> None:
    """What a load writes (Synthea-shaped Bundles and their entries) is clean, as it is valid."""
    bundles = [patient_bundle(seed) for seed in range(3)] + [hospital_information(), practitioner_information()]
    for bundle in bundles:
        assert _clean_means_no_issue(bundle)
        for entry in bundle["entry"]:
            assert _clean_means_no_issue(entry["resource"])


def _sites(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON value, for mutating one place."""
    out: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((value, key))
            out.extend(_sites(child))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out.append((value, i))
            out.extend(_sites(child))
    return out


_REPLACEMENTS = st.one_of(
    leaf,
    st.sampled_from(["", " ", "#x", "#", "Patient/1", "urn:uuid:1", "2024-02-30", "2024-01-01T25:00:00Z", "<div/>"]),
    st.just([]),
    st.just({}),
    st.just({"id": "x"}),
    st.just([None]),
    values,
)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 4), st.data())
def test_the_clean_pass_calls_clean_only_what_has_no_issue_after_mutations(seed: int, data: st.DataObject) -> None:
    """Random changes to a load-shaped Bundle or one of its resources (a value replaced, removed,
    duplicated into an array, a key added): clean only when the full walk finds nothing."""
    bundle = patient_bundle(seed, encounters=1, observations=2)
    target: Any = data.draw(st.sampled_from([bundle, *[e["resource"] for e in bundle["entry"]]]))
    target = copy.deepcopy(target)
    for _ in range(data.draw(st.integers(1, 3))):
        sites = _sites(target)
        container, key = data.draw(st.sampled_from(sites))
        action = data.draw(st.sampled_from(["replace", "remove", "wrap", "add"]))
        if action == "replace":
            container[key] = copy.deepcopy(data.draw(_REPLACEMENTS))
        elif action == "remove":
            del container[key]
        elif action == "wrap":
            container[key] = [container[key]]
        elif isinstance(container, dict):
            name = data.draw(st.sampled_from([*NAMES, "_given", "valueString", "contained", "id"]))
            container[name] = copy.deepcopy(data.draw(_REPLACEMENTS))
    _clean_means_no_issue(target)


@pytest.mark.slow
def test_the_clean_pass_calls_clean_only_what_has_no_issue_on_the_mutation_corpus() -> None:
    """Every known-bad mutation of the corpus is not clean (each has an error)."""
    for _, _, data, _ in build_cases():
        assert not _clean_means_no_issue(data)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(
        [
            "boolean",
            "integer",
            "unsignedInt",
            "positiveInt",
            "decimal",
            "string",
            "code",
            "id",
            "uri",
            "url",
            "canonical",
            "oid",
            "uuid",
            "date",
            "dateTime",
            "instant",
            "time",
            "markdown",
            "base64Binary",
            "xhtml",
        ]
    ),
    st.one_of(
        leaf,
        st.floats(allow_nan=False),
        st.text(max_size=12),
        st.from_regex(
            r"-?[0-9]{1,4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,8})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?",
            fullmatch=True,
        ),
        st.sampled_from(
            ["2024-02-29", "2023-02-29", "2024-04-31", "2024-12-31T23:59:60Z", "urn:oid:1.2", "a b", "a  b"]
        ),
    ),
)
def test_the_primitive_predicates_are_check_primitive(type_code: str, value: Any) -> None:
    assert primitive_ok(type_code)(value) == (check_primitive(type_code, value) is None)


def _reference_datetime_parts(s: str) -> tuple[tuple[int, ...], datetime | None] | None:
    """``_datetime_parts`` as it was written with ``datetime`` and ``timedelta``."""
    m = fp._DATETIME.fullmatch(s)  # pyright: ignore[reportPrivateUsage]
    if m is None:
        return None
    parts = tuple(int(g) for g in m.groups()[:6] if g is not None)
    tz = m.group(8)
    if len(parts) >= 5 and tz is not None:
        fraction = m.group(7) or "0"
        year, month, day, hour, minute = parts[:5]
        second = parts[5] if len(parts) > 5 else 0
        micro = int(fraction[:6].ljust(6, "0"))
        moment = datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=UTC)
        if tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            moment -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        return parts, moment
    return parts, None


def _either(fn: Any, s: str) -> Any:
    try:
        return fn(s)
    except Exception as exc:  # the same exception type, or the same answer
        return type(exc)


_DATETIMES = st.one_of(
    st.from_regex(
        r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,8})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?",
        fullmatch=True,
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "2024-02-30T10:00:00Z"]),
)


@settings(max_examples=500, deadline=None)
@given(_DATETIMES, _DATETIMES)
def test_datetime_parts_order_as_datetimes_did(x: str, y: str) -> None:
    """The integer instants order (and fail) exactly as the ``datetime``\\ s they replace."""
    new_x, old_x = _either(fp._datetime_parts, x), _either(_reference_datetime_parts, x)  # pyright: ignore[reportPrivateUsage]
    new_y, old_y = _either(fp._datetime_parts, y), _either(_reference_datetime_parts, y)  # pyright: ignore[reportPrivateUsage]
    for new, old in ((new_x, old_x), (new_y, old_y)):
        if isinstance(old, type) or old is None:
            assert new == old
        else:
            assert new[0] == old[0]
            assert (new[1] is None) == (old[1] is None)
    if isinstance(new_x, tuple) and isinstance(new_y, tuple) and new_x[1] is not None and new_y[1] is not None:
        assert (new_x[1] > new_y[1]) - (new_x[1] < new_y[1]) == (old_x[1] > old_y[1]) - (old_x[1] < old_y[1])


_URLS = st.sampled_from(["urn:uuid:a", "urn:uuid:b", "a", "ab", "b", "http://x.org/Patient/1/_history/2", 3, None])
_ENTRY_VALUES = {
    "fullUrl": _URLS,
    "_fullUrl": st.sampled_from([{"id": "e"}, None]),
    "resource": st.one_of(
        st.none(),
        st.just([]),
        st.fixed_dictionaries(
            {"resourceType": st.just("Patient")},
            optional={
                "meta": st.one_of(
                    st.none(),
                    st.just([]),
                    st.fixed_dictionaries({}, optional={"versionId": st.sampled_from(["", "1", "b"])}),
                ),
                "_meta": st.just({"id": "m"}),
            },
        ),
    ),
    "request": st.sampled_from([{"method": "POST", "url": "Patient"}, None, [], "x"]),
    "response": st.sampled_from([{"status": "201"}, None, []]),
    "_response": st.sampled_from([{"id": "r"}, None]),
}
_ENTRIES = st.one_of(
    st.fixed_dictionaries({}, optional=_ENTRY_VALUES),  # pyright: ignore[reportArgumentType]
    st.sampled_from([None, "x", []]),
)
_BUNDLES = st.fixed_dictionaries(
    {"resourceType": st.just("Bundle")},
    optional={
        "type": st.sampled_from(["transaction", "batch", "history", "batch-response", "searchset", "x", 1, None]),
        "entry": st.one_of(st.lists(_ENTRIES, max_size=4), st.sampled_from([None, {}, "x"])),
    },
)


@settings(max_examples=1500, deadline=None)
@given(_BUNDLES)
def test_bundle_shortcuts_never_pass_what_the_compiled_invariant_fails(bundle: dict[str, Any]) -> None:
    """A shortcut says "surely holds" only where the compiled FHIRPath gives no false."""
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    for key, holds in fast.SHORTCUTS.items():
        focuses = [bundle] if key in ("bdl-3", "bdl-4", "bdl-7") else [e for e in entries if isinstance(e, dict)]
        for focus in focuses:
            if holds(focus, bundle):
                assert invariants.COMPILED[key]([focus], bundle, bundle) != [False], key


def test_bundle_shortcuts_hold_on_a_load_shaped_bundle() -> None:
    """They apply where they are meant to (a transaction of POSTs with urn:uuid fullUrls)."""
    bundle = patient_bundle(0)
    assert all(fast.SHORTCUTS[key](bundle, bundle) for key in ("bdl-3", "bdl-4", "bdl-7"))
    assert all(fast.SHORTCUTS[key](e, bundle) for key in ("bdl-5", "bdl-8") for e in bundle["entry"])


_MOMENTS = st.one_of(
    _DATETIMES,
    st.sampled_from(
        [
            "2024-03-01T09:00:00-05:00",
            "2024-03-01T09:30:00-05:00",
            "2024-03-01T09:30:00+05:00",
            "2024-03-01T09:30:60-05:00",
            "2024-03-01T09:30:00Z",
            "2024-03-01T10:30:00Z",
            "0001-01-01T00:30:00+01:00",
            "0001-01-01T00:40:00+01:00",
            "2024-02-30T09:00:00Z",
            "2024-03-01",
        ]
    ),
)
_ELEMENT_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["x", "http://unitsofmeasure.org", "", 3]),
    st.just([]),
    st.just([None]),
    st.fixed_dictionaries(
        {},
        optional={
            "coding": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "system": st.sampled_from(
                            [
                                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "http://loinc.org",
                            ]
                        ),
                        "code": st.sampled_from(["resolved", "active", "entered-in-error", "8867-4"]),
                    },
                ),
                max_size=2,
            )
        },
    ),
)
_ELEMENT_KEYS = [
    "value", "valueQuantity", "valueString", "_value", "_valueString", "dataAbsentReason", "_dataAbsentReason",
    "component", "code", "_code", "codeX", "system", "_system", "abatementDateTime", "abatementAge", "abatement",
    "clinicalStatus", "verificationStatus", "start", "end", "_start", "_end", "startX",
]  # fmt: skip
_ELEMENTS = st.dictionaries(
    st.sampled_from(_ELEMENT_KEYS),
    st.one_of(_ELEMENT_VALUES, _MOMENTS, st.builds(lambda c: {"code": c}, _ELEMENT_VALUES)),
    max_size=5,
)


@settings(max_examples=2000, deadline=None)
@given(_ELEMENTS, st.fixed_dictionaries({"resourceType": st.just("Observation")}, optional={"code": _ELEMENT_VALUES}))
def test_element_shortcuts_never_pass_what_the_compiled_invariant_fails(
    obj: dict[str, Any], res: dict[str, Any]
) -> None:
    """A shortcut says "surely holds" only where the compiled FHIRPath neither says false nor raises."""
    for key, holds in fast.SHORTCUTS.items():
        if key.startswith("bdl-"):
            continue
        if holds(obj, res):
            assert invariants.COMPILED[key]([obj], res, res) != [False], key


@settings(max_examples=500, deadline=None)
@given(_MOMENTS, _MOMENTS)
def test_the_period_shortcut_never_orders_what_fhirpath_does_not(start: str, end: str) -> None:
    period = {"start": start, "end": end}
    if fast.SHORTCUTS["per-1"](period, period):
        assert fp.op_le([start], [end]) == [True]


def test_element_shortcuts_hold_on_load_shaped_resources() -> None:
    """They apply where they are meant to: every Synthea-shaped Observation, Condition and Period."""
    hits: dict[str, int] = {}
    for entry in patient_bundle(1)["entry"]:
        resource = entry["resource"]
        for key, holds in fast.SHORTCUTS.items():
            focus = resource.get("billablePeriod") or resource.get("period") or resource
            if key in invariants.COMPILED and not key.startswith("bdl-") and holds(focus, resource):
                hits[key] = hits.get(key, 0) + 1
    assert {"obs-6", "obs-7", "con-4", "con-5", "per-1"} <= set(hits)


def test_the_clean_pass_reports_the_resources_own_warnings_as_the_walk_does() -> None:
    """At the default level a resource without narrative gets dom-6 from the clean pass itself (the
    full walk is not needed), the same issue the full walk reports."""
    observation = patient_bundle(2)["entry"][1]["resource"]
    known = clean_issues(_Walker(), observation, frozenset())
    assert known is not None
    assert [(i.severity, i.key, i.path) for i in known] == [("warning", "dom-6", observation["resourceType"])]
    assert known == _full_walk(observation, frozenset())
    assert validate(observation) == known
