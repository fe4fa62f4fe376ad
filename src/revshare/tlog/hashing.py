"""RFC 6962 section 2.1 hashing: domain-separated SHA-256 for leaves and interior nodes.

A leaf is `SHA-256(0x00 || data)` and a node `SHA-256(0x01 || left || right)`, so no leaf
can be passed off as a node (second-preimage resistance). The leaf data of a usage record
is the RFC 8785 canonical JSON of its projection, where money is a string.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, cast

import rfc8785

from revshare.tlog.errors import ProjectionError
from revshare.tlog.jcs import encode_plain, is_plain

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "hash_children",
    "hash_leaf",
    "leaf_data",
    "leaf_hash",
]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32

# MTH({}) = SHA-256() (RFC 6962 section 2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def hash_leaf(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) (RFC 6962 section 2.1)."""
    return _sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 6962 section 2.1)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def leaf_data(projection: Mapping[str, object]) -> bytes:
    """The leaf bytes of a record: JCS (RFC 8785) of its projection, a JSON object.

    Floats are refused: money and quantities travel as strings or ints, never floats.
    """
    if type(projection) is dict and is_plain(projection):
        try:
            return encode_plain(projection)
        except UnicodeEncodeError:
            pass  # lone surrogate: let rfc8785 below report it
    if not isinstance(projection, Mapping):
        raise ProjectionError(f"projection is a {type(projection).__name__}, want a JSON object")
    _refuse_floats(projection, "$")
    try:
        return rfc8785.dumps(cast(Any, dict(projection)))
    except rfc8785.CanonicalizationError as e:
        raise ProjectionError(f"projection is not canonical JSON: {e}") from e


def leaf_hash(projection: Mapping[str, object]) -> bytes:
    """hash_leaf(leaf_data(projection)): the tree leaf of one record."""
    return _sha256(LEAF_PREFIX + leaf_data(projection)).digest()


def _refuse_floats(value: object, path: str) -> None:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return
    if isinstance(value, float):
        raise ProjectionError(f"float at {path}: want a string (money) or an int, never a float")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _refuse_floats(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _refuse_floats(v, f"{path}[{i}]")
