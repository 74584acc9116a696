"""Issue 6 (lossless reads): every official R4 example parses and dumps back JSON-equal to its input."""

from __future__ import annotations

import copy
import pickle
import warnings
from decimal import Decimal

import pytest
from conftest import exact, json_diff

from clinikfhir.models import GenericResource, dump, dump_bytes, encode, parse, unmodelled


@pytest.mark.slow
def test_every_corpus_example_round_trips(examples: list[tuple[str, bytes]]) -> None:
    assert len(examples) == 818
    failures = {}
    kept: dict[str, list[str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to validation would be a gap: fail loudly
        for name, raw in examples:
            model = parse(raw)
            diff = json_diff(exact(raw), exact(dump(model)))
            if diff:
                failures[name] = diff[:3]
            if unmodelled(model):
                kept[name] = sorted(unmodelled(model))
    assert failures == {}
    # The one valid R4 example whose content R4B has no element for: kept, not dropped.
    assert kept == {"Evidence-example.json": ["exposureBackground"]}


def _obs(**extra: object) -> dict[str, object]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **extra}


@pytest.mark.parametrize(
    "text", ["1.50", "1.0", "100", "0.0000001", "1e3", "-2.50E-3", "66.899999999999991", "123456789012.123456", "0"]
)
def test_decimals_keep_their_digits(text: str) -> None:
    raw = f'{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"valueQuantity":{{"value":{text}}}}}'
    model = parse(raw)
    assert model.valueQuantity.value == Decimal(text)  # type: ignore[attr-defined]
    assert json_diff(exact(raw), exact(dump(model))) == []
    # the same from a dict decoded by the exact decoder
    assert json_diff(exact(raw), exact(dump(parse(exact(raw))))) == []


def test_decimal_lookalikes_inside_strings_are_untouched() -> None:
    raw = (
        '{"resourceType":"Observation","status":"final","code":{"text":"ratio: 1.50, then [2.50]"},'
        '"valueQuantity":{"value":1.50},"note":[{"text":"x:3.10}"}]}'
    )
    model = parse(raw)
    assert model.code.text == "ratio: 1.50, then [2.50]"  # type: ignore[attr-defined]
    assert json_diff(exact(raw), exact(dump(model))) == []


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-02T10:15:00+00:00",
        "2024-01-02T10:15:00Z",
        "2024-01-02T10:15:00.120-05:00",
        "2024-01-02T10:15:00.1234567+14:00",
        "2024-01-02",
        "2024-01",
        "2024",
        "2016-12-31T23:59:60Z",
    ],
)
def test_datetimes_keep_their_spelling(value: str) -> None:
    model = parse(_obs(effectiveDateTime=value, issued="2024-01-02T10:15:00.500+00:00"))
    out = exact(dump(model))
    assert out["effectiveDateTime"] == value
    assert out["issued"] == "2024-01-02T10:15:00.500+00:00"


def test_times_dates_and_base64_keep_their_spelling() -> None:
    data = {
        "resourceType": "Patient",
        "birthDate": "1980-04-12",
        "photo": [{"contentType": "image/png", "data": "aGVs\nbG8="}],
        "extension": [{"url": "http://example.org/t", "valueTime": "08:00:00.50"}],
    }
    assert exact(dump(parse(data))) == data


def test_primitive_extension_on_extension_value_survives() -> None:
    """fhir.resources issue #204: ``_valueCode`` beside ``valueCode`` on Extension.value[x]."""
    data = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": "http://example.org/ext",
                "valueCode": "abc",
                "_valueCode": {"extension": [{"url": "http://example.org/note", "valueString": "why"}]},
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "_valueCode": {"extension": [{"url": "http://example.org/n", "valueBoolean": True}]},
            },
        ],
        "name": [{"given": ["A", "B"], "_given": [None, {"id": "g2"}]}],
    }
    model = parse(data)
    ext = model.extension[0]  # type: ignore[attr-defined]
    assert ext.valueCode == "abc"
    # R4B's Extension has no field for it: kept beside the model, written back in place
    assert unmodelled(ext) == {"_valueCode": data["extension"][0]["_valueCode"]}  # type: ignore[index]
    assert exact(dump(model)) == data


def test_r4_only_types_inside_a_bundle_become_generic_resources() -> None:
    product = {
        "resourceType": "MedicinalProduct",
        "id": "mp1",
        "meta": {"lastUpdated": "2024-01-01T00:00:00Z"},
        "name": [{"productName": "Example", "namePart": [{"part": "Ex", "type": {"code": "x"}}]}],
        "extension": [{"url": "http://example.org/strength", "valueDecimal": 2.50}],
    }
    raw = dump_bytes(parse({"resourceType": "Patient"}))  # warm-up, and any dump works
    assert raw
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": product}, {"resource": {"resourceType": "Patient", "id": "p"}}],
    }
    product_text = (
        '{"resourceType":"MedicinalProduct","id":"mp1","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},'
        '"name":[{"productName":"Example","namePart":[{"part":"Ex","type":{"code":"x"}}]}],'
        '"extension":[{"url":"http://example.org/strength","valueDecimal":2.50}]}'
    )
    text = (
        '{"resourceType":"Bundle","type":"collection","entry":[{"resource":' + product_text + "},"
        '{"resource":{"resourceType":"Patient","id":"p"}}]}'
    )
    model = parse(text)
    generic = model.entry[0].resource  # type: ignore[attr-defined]
    assert isinstance(generic, GenericResource)
    assert generic.resource_type == "MedicinalProduct"
    assert generic.id == "mp1"
    assert json_diff(exact(text), exact(dump(model))) == []
    assert json_diff(exact(encode(bundle)), exact(dump(parse(bundle)))) == []
    top = parse(product)
    assert isinstance(top, GenericResource)
    assert exact(dump(top))["name"] == product["name"]


def test_unknown_but_valid_r4_content_is_kept() -> None:
    data = _obs(valueQuantity={"value": 1, "futureElement": {"a": [1.50]}}, somethingR4Only="x")
    model = parse(data)
    assert unmodelled(model) == {"somethingR4Only": "x"}
    assert json_diff(exact(dump_bytes(model)), exact(dump(parse(dump(model))))) == []
    assert exact(dump(model))["valueQuantity"]["futureElement"] == {"a": [Decimal("1.50")]}


def test_copies_and_pickles_keep_the_spelling() -> None:
    model = parse(_obs(effectiveDateTime="2024-01-02T10:15:00Z", valueQuantity={"value": 1.50}))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model)), model.model_copy(deep=True)):
        assert clone == model
        assert dump(clone) == dump(model)
    assert '"effectiveDateTime":"2024-01-02T10:15:00Z"' in dump(model)


def test_models_built_by_hand_dump_like_fhir_resources() -> None:
    from clinikfhir.models import HumanName, Patient

    patient = Patient(name=[HumanName(family="Smith", given=["John"])], gender="male", birthDate="1990-01-15")
    assert exact(dump(patient)) == exact(patient.model_dump_json())
    patient.active = True  # assignment (validated by pydantic) is written too
    assert exact(dump(patient))["active"] is True


def test_lazy_decoding_keeps_exact_numbers_for_parse() -> None:
    from clinikfhir.models import decode_lazy, plain

    raw = (
        b'{"resourceType":"Bundle","type":"searchset","total":2,"entry":[{"resource":{"resourceType":"Observation",'
        b'"status":"final","code":{"text":"t: 2.50, x"},"valueQuantity":{"value":1.50}}}]}'
    )
    page = decode_lazy(raw)
    assert page["total"] == 2
    model = parse(page["entry"][0]["resource"])
    assert str(model.valueQuantity.value) == "1.50"  # type: ignore[attr-defined]
    assert plain(page) == exact(raw)
    assert json_diff(exact(raw), exact(encode(plain(page)))) == []


def test_received_text_cannot_forge_an_exact_number_marker() -> None:
    data = {"resourceType": "Patient", "name": [{"family": "\u00001.5"}], "unknownThing": "\u00002.5"}
    model = parse(encode(data))
    assert model.name[0].family == "\u00001.5"  # type: ignore[attr-defined]
    assert exact(dump(model)) == data
    assert exact(dump(parse(data))) == data


def test_fhir_comments_lists_and_strings_round_trip() -> None:
    data = {
        "resourceType": "Patient",
        "fhir_comments": ["first", "second"],
        "name": [{"family": "x", "fhir_comments": "one"}],
    }
    assert exact(dump(parse(data))) == data
    assert exact(dump(parse(data, strict=True))) == data
