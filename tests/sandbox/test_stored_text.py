"""What the write path makes of a resource it stores: the text, what the index reads, the id.

``canonical`` hands the index the resource as ``orjson.loads`` reads its stored text back (it decodes
the text only when the resource holds a Decimal): both must be the same value, types too.
``uuid4_text`` mints an id as ``uuid.uuid4()`` would from the same random bytes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox._fhir import canonical, uuid4_text
from clinikfhir.sandbox._http import loads_exact

from .conftest import Gw

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3).filter(lambda d: abs(d) < Decimal("1e300"))
    | st.text(max_size=8)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@example(body={"valueQuantity": {"value": Decimal("1.50")}, "x": 0.1})
@example(body={"valueQuantity": {"value": 98.6}, "n": [1, -0.0, 1e16, True, None]})
@given(body=st.dictionaries(st.text(max_size=6), _VALUES, max_size=5))
def test_the_indexed_resource_is_the_stored_text_read_back(body: dict[str, Any]) -> None:
    body.pop("meta", None)
    text, indexed = canonical({"resourceType": "Basic", **body}, "Basic", "b1", 2, "2024-01-01T00:00:00.000000Z")
    assert repr(indexed) == repr(orjson.loads(text))


def test_a_decoded_request_body_reads_back_as_it_was_written() -> None:
    raw = b'{"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"},"v":[98.6,7,"1e5"]}'
    text, indexed = canonical(loads_exact(raw), "Observation", "o1", 1, "2024-01-01T00:00:00.000000Z")
    assert '"value":1.50' in text
    assert repr(indexed) == repr(orjson.loads(text))


@settings(max_examples=300, deadline=None)
@example(random=b"\x00" * 16)
@example(random=b"\xff" * 16)
@given(random=st.binary(min_size=16, max_size=16))
def test_a_minted_id_is_the_version_4_uuid_of_its_random_bytes(random: bytes) -> None:
    assert uuid4_text(random) == str(uuid.UUID(bytes=random, version=4))


def test_a_decimal_written_as_a_long_integer_is_stored_and_read_with_every_digit(gw: Gw) -> None:
    """A decimal beyond 64 bits written without a point (which orjson alone would round to a float)
    is stored and served digit for digit."""
    c, _ = gw.tenant_client()
    digits = "123456789012345678901234567890"
    body = (
        '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        f'"valueQuantity":{{"value":{digits},"unit":"1"}}}}'
    )
    made = c.post("/v1/fhir/Observation", content=body, headers={"content-type": "application/fhir+json"})
    assert made.status_code == 201, made.text
    read = c.get(f"/v1/fhir/Observation/{made.json()['id']}")
    assert f'"value":{digits},' in read.text


def test_an_integer_too_long_for_any_number_is_a_400_naming_its_element(gw: Gw) -> None:
    """Past Python's 4,300-digit integer limit too: the number bound answers, not the decoder."""
    c, _ = gw.tenant_client()
    body = '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":%s}}'
    made = c.post(
        "/v1/fhir/Observation", content=body % ("9" * 5000), headers={"content-type": "application/fhir+json"}
    )
    assert made.status_code == 400, made.text
    assert made.json()["code"] == "INVALID_JSON"
    assert made.json()["message"] == "A number is out of range at Observation.valueQuantity.value"
