"""The JsonPatch builder and model diffs, without a server (the client tests apply them for real)."""

from __future__ import annotations

import jsonpatch
import pytest

from clinikfhir import JsonPatch
from clinikfhir.errors import InvalidArgumentError, TenantGuardError
from clinikfhir.models import Address, HumanName, Observation, Patient


def test_builder_is_immutable_and_renders_rfc6902() -> None:
    base = JsonPatch(Patient)
    one = base.replace("/gender", "female")
    two = one.add("/name/-", HumanName(family="Doe")).remove("/birthDate")
    assert len(base) == 0
    assert len(one) == 1
    assert two.operations == [
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/name/-", "value": {"family": "Doe"}},
        {"op": "remove", "path": "/birthDate"},
    ]


def test_every_operation_kind() -> None:
    p = (
        JsonPatch(Patient)
        .test("/gender", "male")
        .copy("/name/0", "/name/1")
        .move("/address/0", "/address/1")
        .replace("/birthDate", __import__("datetime").date(1990, 1, 15))
    )
    assert [o["op"] for o in p] == ["test", "copy", "move", "replace"]
    assert p[3]["value"] == "1990-01-15"
    assert p[1] == {"op": "copy", "from": "/name/0", "path": "/name/1"}


@pytest.mark.parametrize(
    "path",
    ["/gendr", "/name/x", "/name/01", "/gender/0", "/gender/x", "/resourceType", "name", "", "/name/-/family"],
)
def test_unknown_or_malformed_paths_are_rejected(path: str) -> None:
    with pytest.raises(InvalidArgumentError):
        JsonPatch(Patient).replace(path, "x")


@pytest.mark.parametrize(
    "path",
    [
        "/name/0/given/1",
        "/contact/0/name/family",
        "/_birthDate/extension",
        "/extension/0/url",
        "/meta/profile/0",
        "/contained/0/anything/deep",
        "/deceasedBoolean",
        "/identifier/0/assigner/reference",
    ],
)
def test_paths_through_nested_elements_are_accepted(path: str) -> None:
    JsonPatch(Patient).replace(path, "x")


def test_unchecked_until_a_model_is_known() -> None:
    loose = JsonPatch().replace("/whatever", 1)
    with pytest.raises(InvalidArgumentError):
        loose.check(Patient)


@pytest.mark.parametrize("path", ["/meta/tag", "/meta/tag/0", "/meta/tag/0/code", "/meta"])
def test_the_tenant_tag_cannot_be_patched(path: str) -> None:
    with pytest.raises(TenantGuardError):
        JsonPatch(Patient).replace(path, "x")
    with pytest.raises(TenantGuardError):
        JsonPatch().remove(path)


def test_repr_leaves_values_out() -> None:
    assert "Secret" not in repr(JsonPatch(Patient).replace("/name/0/family", "Secret"))


def test_diff_turns_old_into_new() -> None:
    old = Patient(
        id="p1",
        gender="male",
        name=[HumanName(family="Smith", given=["John"])],
        address=[Address(city="Lyon")],
        meta={"versionId": "3", "lastUpdated": "2024-01-01T00:00:00Z"},
    )
    new = old.model_copy(deep=True)
    new.gender = "female"
    new.name[0].given = ["John", "Paul"]
    new.address = None
    new.birthDate = "1990-01-15"
    new.meta.versionId = "4"
    patch = JsonPatch.diff(old, new)
    paths = {o["path"] for o in patch}
    assert "/meta/versionId" not in paths
    from clinikfhir.models import decode, dump_bytes

    a = decode(dump_bytes(old))
    b = decode(dump_bytes(new))
    applied = jsonpatch.apply_patch(a, patch.operations)
    applied["meta"]["versionId"] = "4"
    assert applied == b


def test_diff_of_different_types_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        JsonPatch.diff(Patient(), Observation.model_construct())


def _obs(value: str, components: str = "", effective: str = "2024-01-01T00:00:00Z") -> Observation:
    from clinikfhir.models import parse

    text = (
        '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        f'"effectiveDateTime":"{effective}","valueQuantity":{{"value":{value}}}'
        + (f',"component":[{components}]' if components else "")
        + "}"
    )
    result = parse(text)
    assert isinstance(result, Observation)
    return result


def _component(value: str) -> str:
    return f'{{"code":{{"text":"c{value}"}},"valueQuantity":{{"value":{value}}}}}'


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (_obs("1.50"), _obs("1.5")),  # equal as numbers, different text: a change
        (_obs("1"), _obs("1.0")),
        (_obs("1.50"), _obs("1.500")),
        (_obs("1", effective="2024-01-01T00:00:00Z"), _obs("1", effective="2024-01-01T01:00:00+01:00")),
        (_obs("1", effective="2024-01-01T00:00:00Z"), _obs("1", effective="2024-01-01T00:00:00.000Z")),
        (_obs("1", _component("1.50")), _obs("1", _component("1.5"))),
        (_obs("1", ",".join([_component("1.50"), _component("2")])), _obs("1", _component("2").replace("c2", "c1.50"))),
    ],
)
def test_diff_sees_the_exact_json_text_of_decimals_and_datetimes(old: Observation, new: Observation) -> None:
    from clinikfhir.models import decode, dump, encode, parse

    patch = JsonPatch.diff(old, new)
    assert patch.operations  # a textual difference is a change
    applied = jsonpatch.apply_patch(decode(dump(old)), decode(encode(patch.operations)))  # pyright: ignore[reportUnknownMemberType]
    assert dump(parse(encode(applied))) == dump(new)  # the patch gives new's exact text


def test_diff_of_the_same_text_is_empty() -> None:
    assert JsonPatch.diff(_obs("1.50", _component("0.10")), _obs("1.50", _component("0.10"))).operations == []
