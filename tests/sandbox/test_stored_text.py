"""What the write path reads off a stored resource's text without decoding it again.

``canonical`` hands the index the resource as ``orjson.loads`` reads its stored text back (it decodes
the text only when the resource holds a Decimal): both must be the same value, types too.
``strings_of`` finds a transaction's created strings with a search of the text: every string value
must be among them (the engine is asked again when one might match). ``uuid4_text`` mints an id
as ``uuid.uuid4()`` would from the same random bytes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, cast

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clinikfhir.sandbox._bundle import strings_of
from clinikfhir.sandbox._fhir import canonical, uuid4_text
from clinikfhir.sandbox._http import loads_exact

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


def _walk(value: Any, keys: bool) -> set[str]:
    if isinstance(value, dict):
        obj = cast("dict[str, Any]", value)
        found = set(obj) if keys else set[str]()
        return found.union(*(_walk(v, keys) for v in obj.values()))
    if isinstance(value, list):
        return set[str]().union(*(_walk(v, keys) for v in cast("list[Any]", value)))
    return {value} if isinstance(value, str) else set[str]()


# strings with what a search of the text must see through: quotes, backslashes, control characters
_TRICKY = st.text(alphabet=st.sampled_from(list('ab"\\:,{}[]\n\x00\u00e9\U0001f600')), max_size=8)
_TRICKY_VALUES = st.recursive(
    st.none() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | _TRICKY,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TRICKY, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@example(value={"a": 'x"y', "b": ["\\", ""]})
@example(value={"k": ["", {"": "a"}], "v": "ab"})
@given(value=_TRICKY_VALUES)
def test_every_string_value_of_a_stored_text_is_found(value: Any) -> None:
    text = orjson.dumps(value).decode()
    found = set(strings_of(text))
    assert _walk(value, keys=False) <= found <= _walk(value, keys=True)


@settings(max_examples=300, deadline=None)
@example(random=b"\x00" * 16)
@example(random=b"\xff" * 16)
@given(random=st.binary(min_size=16, max_size=16))
def test_a_minted_id_is_the_version_4_uuid_of_its_random_bytes(random: bytes) -> None:
    assert uuid4_text(random) == str(uuid.UUID(bytes=random, version=4))
