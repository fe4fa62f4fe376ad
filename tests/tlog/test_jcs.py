"""The json fast path is byte-identical to rfc8785 on plain values, and falls back otherwise."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from revshare.tlog.jcs import MAX_SAFE_INT, canonicalize, encode_plain, is_plain

# Every code point but lone surrogates (which have no UTF-8 form; tested below).
texts = st.text(st.characters(codec="utf-8"), max_size=20)
ascii_keys = st.text(st.characters(max_codepoint=0x7F), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.integers(-(2**70), 2**70)  # out of range: not plain
    | texts
)
plain_shape = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(ascii_keys, inner, max_size=8),
    max_leaves=30,
)
records = st.dictionaries(ascii_keys, scalars | st.lists(texts, max_size=3), max_size=20)
anything = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=6),
    max_leaves=25,
)


def _reference(value: Any) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return None


@given(plain_shape)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    want = _reference(value)
    if is_plain(value):
        assert want is not None
        assert encode_plain(value) == want
    assert (canonicalize(value) if want is not None else None) == want


@given(records)
def test_fast_path_on_record_shaped_objects(value: dict[str, Any]) -> None:
    want = _reference(value)
    if want is not None:
        assert canonicalize(value) == want


@given(anything)
def test_canonicalize_always_equals_rfc8785(value: Any) -> None:
    want = _reference(value)
    if want is not None:
        assert canonicalize(value) == want


def test_control_characters_and_escapes() -> None:
    value = {"s": "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\u2028\u2029é😀'}
    assert is_plain(value)
    assert encode_plain(value) == rfc8785.dumps(value)


def test_non_ascii_keys_take_the_reference_path() -> None:
    # UTF-16 order puts U+1F600 (surrogates D83D...) before U+FFFD; code point order does not.
    value = {"\U0001f600": 1, "\ufffd": 2}
    assert not is_plain(value)
    assert canonicalize(value) == rfc8785.dumps(value)
    assert canonicalize(value) != encode_plain(value)


def test_not_plain() -> None:
    assert not is_plain(1.0)
    assert not is_plain(2**53)
    assert not is_plain((1, 2))
    assert not is_plain({1: "int key"})
    deep: Any = "x"
    for _ in range(10):
        deep = [deep]
    assert not is_plain(deep)
    assert canonicalize(deep) == rfc8785.dumps(deep)
