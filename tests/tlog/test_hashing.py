"""RFC 6962 hashing known answers and the leaf format of a record projection."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import pytest

from revshare.tlog import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    NODE_PREFIX,
    ProjectionError,
    hash_children,
    hash_leaf,
    leaf_data,
    leaf_hash,
)


def test_prefixes() -> None:
    assert LEAF_PREFIX == b"\x00"
    assert NODE_PREFIX == b"\x01"


def test_empty_root() -> None:
    # printf '' | sha256sum
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    ("data", "want"),
    [
        # printf '\x00' | sha256sum
        ("", "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        # printf '\x00\x00' | sha256sum
        ("00", "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        # printf '\x00\x10' | sha256sum
        ("10", "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        # printf '\x00L123456' | sha256sum  (transparency-dev rfc6962 hasher_test.go)
        ("4c313233343536", "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"),
    ],
)
def test_hash_leaf(data: str, want: str) -> None:
    assert hash_leaf(bytes.fromhex(data)).hex() == want


def test_hash_children() -> None:
    # printf '\x01N123N456' | sha256sum  (transparency-dev rfc6962 hasher_test.go)
    got = hash_children(b"N123", b"N456")
    assert got.hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    assert got == hashlib.sha256(b"\x01N123N456").digest()


def test_leaf_and_node_are_domain_separated() -> None:
    a, b = b"\x11" * 32, b"\x22" * 32
    assert hash_leaf(a + b) != hash_children(a, b)


def test_leaf_data_is_jcs() -> None:
    record = {
        "seq": 7,
        "amount": "0.000123000000",
        "model": "gemma",
        "estimated": False,
        "z": None,
        "a": ["x", 1],
        "nested": {"b": 1, "a": "é"},
    }
    want = (
        '{"a":["x",1],"amount":"0.000123000000","estimated":false,"model":"gemma",'
        '"nested":{"a":"é","b":1},"seq":7,"z":null}'
    ).encode()
    assert leaf_data(record) == want
    assert leaf_hash(record) == hash_leaf(want)


def test_leaf_data_of_a_mapping_that_is_not_a_dict() -> None:
    assert leaf_data(OrderedDict([("b", 1), ("a", 2)])) == b'{"a":2,"b":1}'


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": 0.1},
        {"x": {"y": [1, 2.5]}},
        {"x": float("nan")},
    ],
)
def test_leaf_data_refuses_floats(bad: dict[str, object]) -> None:
    with pytest.raises(ProjectionError, match="float"):
        leaf_data(bad)


@pytest.mark.parametrize("bad", [[1, 2], "text", 3])
def test_leaf_data_refuses_non_objects(bad: object) -> None:
    with pytest.raises(ProjectionError, match="want a JSON object"):
        leaf_data(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"n": 2**53}, {"s": "\ud800"}])
def test_leaf_data_refuses_what_jcs_cannot_encode(bad: dict[str, object]) -> None:
    with pytest.raises(ProjectionError, match="not canonical JSON"):
        leaf_data(bad)
