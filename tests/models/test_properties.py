"""Property tests: generated resources read through the trusted path equal full validation and
write back exactly what was read."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from conftest import exact, json_diff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinikfhir.models import ModelFallbackWarning, decode, dump, encode, parse, resource_class

# FHIR strings: no control characters and no whitespace other than space (fhir.resources' pattern)
text = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N", "P", "S"), whitelist_characters=" "), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and s.strip())
code = st.from_regex(r"[A-Za-z0-9\-.]{1,12}", fullmatch=True)
uri = st.builds(lambda c: f"http://example.org/{c}", code)
ident = st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True)


@st.composite
def decimals(draw: st.DrawFn) -> Decimal:
    value = draw(
        st.decimals(
            allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9, places=draw(st.integers(0, 6))
        )
    )
    return value


@st.composite
def datetimes(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
    shape = draw(st.sampled_from(["year", "month", "date", "Z", "offset", "fraction"]))
    if shape == "year":
        return f"{moment.year:04d}"
    if shape == "month":
        return f"{moment.year:04d}-{moment.month:02d}"
    if shape == "date":
        return moment.date().isoformat()
    if shape == "Z":
        return moment.replace(microsecond=0).isoformat() + "Z"
    minutes = draw(st.integers(-12 * 60, 14 * 60).map(lambda m: m - m % 15))
    zone = timezone(timedelta(minutes=minutes)) if minutes else UTC
    stamp = moment.replace(tzinfo=zone)
    if shape == "offset":
        return stamp.replace(microsecond=0).isoformat()
    digits = draw(st.integers(1, 6))
    return (
        stamp.strftime("%Y-%m-%dT%H:%M:%S")
        + "."
        + f"{moment.microsecond:06d}"[:digits]
        + stamp.strftime("%z")[:3]
        + ":"
        + stamp.strftime("%z")[3:]
    )


coding = st.fixed_dictionaries({"system": uri, "code": code}, optional={"display": text, "userSelected": st.booleans()})
concept = st.fixed_dictionaries({}, optional={"coding": st.lists(coding, min_size=1, max_size=3), "text": text})
extension = st.fixed_dictionaries(
    {"url": uri},
    optional={
        "valueString": text,
        "valueDecimal": decimals(),
        "valueDateTime": datetimes(),
        "valueBoolean": st.booleans(),
    },
).filter(lambda e: sum(k.startswith("value") for k in e) <= 1)
quantity = st.fixed_dictionaries(
    {"value": decimals()},
    optional={"unit": text, "system": uri, "code": code, "comparator": st.sampled_from(["<", ">="])},
)


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": draw(st.sampled_from(["final", "amended", "preliminary", "registered"])),
        "code": draw(concept),
    }
    optional = {
        "id": ident,
        "meta": st.fixed_dictionaries(
            {},
            optional={
                "versionId": ident,
                "lastUpdated": datetimes().filter(lambda s: len(s) > 10),
                "tag": st.lists(coding, min_size=1, max_size=2),
            },
        ),
        "extension": st.lists(extension, min_size=1, max_size=3),
        "category": st.lists(concept, min_size=1, max_size=2),
        "subject": st.fixed_dictionaries({"reference": st.builds(lambda i: f"Patient/{i}", ident)}),
        "issued": datetimes().filter(lambda s: len(s) > 10),
        "component": st.lists(
            st.fixed_dictionaries({"code": concept}, optional={"valueQuantity": quantity, "valueString": text}).filter(
                lambda c: not ("valueQuantity" in c and "valueString" in c)
            ),
            min_size=1,
            max_size=3,
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            obs[key] = draw(strategy)
    value = draw(
        st.sampled_from(["valueQuantity", "valueString", "valueBoolean", "valueInteger", "valueDateTime", None])
    )
    if value:
        obs[value] = draw(
            {
                "valueQuantity": quantity,
                "valueString": text,
                "valueBoolean": st.booleans(),
                "valueInteger": st.integers(-(2**31), 2**31 - 1),
                "valueDateTime": datetimes(),
            }[value]
        )
    obs["effectiveDateTime"] = draw(datetimes())
    if draw(st.booleans()):
        obs["_status"] = {"extension": [draw(extension)]}
    return obs


@st.composite
def patients(draw: st.DrawFn) -> dict[str, Any]:
    given = draw(st.lists(text, min_size=1, max_size=3))
    name: dict[str, Any] = {"family": draw(text), "given": given}
    if draw(st.booleans()):
        name["_given"] = [None] * (len(given) - 1) + [{"extension": [draw(extension)]}]
    patient: dict[str, Any] = {"resourceType": "Patient", "name": [name]}
    if draw(st.booleans()):
        patient["gender"] = draw(st.sampled_from(["male", "female", "other", "unknown"]))
    if draw(st.booleans()):
        patient["birthDate"] = draw(datetimes().filter(lambda s: len(s) <= 10))
    if draw(st.booleans()):
        patient["active"] = draw(st.booleans())
    if draw(st.booleans()):
        patient["deceasedDateTime"] = draw(datetimes())
    return patient


def _check(data: dict[str, Any]) -> None:
    raw = encode(data)
    reference = resource_class(data["resourceType"]).model_validate(decode(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelFallbackWarning)
        model = parse(raw)
    assert model == reference
    assert json_diff(exact(raw), exact(dump(model))) == []
    assert parse(decode(raw)) == model  # from a decoded dict too
    assert parse(raw, strict=True) == model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(observations())
def test_generated_observations(data: dict[str, Any]) -> None:
    _check(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients())
def test_generated_patients(data: dict[str, Any]) -> None:
    _check(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(observations(), min_size=1, max_size=5))
def test_generated_bundles(resources: list[dict[str, Any]]) -> None:
    _check({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]})
