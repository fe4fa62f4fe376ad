"""engines/json_wire.py: the OpenAI wire's JSON, by orjson, with the standard library for what
orjson refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revshare.engines import json_wire

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_any_json_value_round_trips_and_reads_as_the_standard_library_reads_it(value: object) -> None:
    encoded = json_wire.dumps(value)
    assert json.loads(encoded) == value
    assert b"\n" not in encoded


def test_a_chunk_is_compact_utf8() -> None:
    chunk = {"id": "x", "choices": [{"delta": {"content": "é ✓"}, "index": 0}], "logprob": 1e-05}
    assert json_wire.dumps(chunk) == '{"id":"x","choices":[{"delta":{"content":"é ✓"},"index":0}],"logprob":0.00001}'.encode()


@pytest.mark.parametrize("value", [{"seed": 2**70}, {"seed": -(2**64)}, {"text": "\ud800"}, {1: "key"}])
def test_what_orjson_refuses_is_encoded_by_the_standard_library(value: object) -> None:
    encoded = json_wire.dumps(value)
    assert encoded == json.dumps(value, separators=(",", ":")).encode()
    assert encoded.isascii()


def test_a_nan_is_null_not_text_that_is_not_json() -> None:
    assert json_wire.dumps({"x": float("nan"), "y": float("inf")}) == b'{"x":null,"y":null}'


@pytest.mark.parametrize("text", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":"\\ud800"}', b'{"a":', b""])
def test_what_is_not_json_is_refused_as_the_standard_library_refuses_bad_json(text: bytes) -> None:
    with pytest.raises(ValueError):
        json_wire.loads(text)
