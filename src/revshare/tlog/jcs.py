"""JSON Canonicalization Scheme (RFC 8785) bytes, with a fast path for plain JSON.

`rfc8785.dumps` is the reference and costs ~27 us for a usage record; Python's C JSON
encoder costs ~4 us. For "plain" values the two are byte-identical (property-tested in
tests/tlog/test_jcs.py against rfc8785):

- strings: both escape exactly `"`, `\\`, \\b \\f \\n \\r \\t and other controls as \\u00xx
  (lowercase hex), and write everything else as raw UTF-8;
- ints within +-(2**53 - 1): both write plain decimal (RFC 8785 numbers are IEEE doubles,
  so larger ints are refused by rfc8785, and we fall back to let it refuse them);
- true, false, null, arrays (lists) in order;
- objects whose keys are all ASCII: JCS sorts keys by UTF-16 code units, Python by code
  points; for ASCII the orders agree.

Anything else (floats, non-ASCII keys, tuples, str or int subclasses, deep nesting, lone
surrogates) goes to rfc8785, so the output is always RFC 8785.
"""

from __future__ import annotations

import json
from typing import Any, cast

import rfc8785

__all__ = ["MAX_SAFE_INT", "canonicalize", "encode_plain", "is_plain"]

MAX_SAFE_INT = 2**53 - 1
_MAX_DEPTH = 8

_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    check_circular=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
)


def is_plain(value: object, depth: int = 0) -> bool:
    """Whether `value` is in the shape where the json fast path equals RFC 8785."""
    t = type(value)
    if t is str or value is None or t is bool:
        return True
    if t is int:
        return -MAX_SAFE_INT <= value <= MAX_SAFE_INT  # type: ignore[operator]
    if depth >= _MAX_DEPTH:
        return False
    if t is dict:
        try:  # one C call checks every key is an ASCII str
            if not "".join(value).isascii():  # type: ignore[arg-type]
                return False
        except TypeError:
            return False
        for v in value.values():  # type: ignore[attr-defined]
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                    continue
                return False
            if not is_plain(v, depth + 1):
                return False
        return True
    if t is list:
        for v in value:  # type: ignore[attr-defined]
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if not is_plain(v, depth + 1):
                return False
        return True
    return False


def encode_plain(value: object) -> bytes:
    """The json fast path alone; only equal to RFC 8785 where `is_plain(value)` holds.

    Raises UnicodeEncodeError on a lone surrogate, which has no UTF-8 form.
    """
    return _ENCODER.encode(value).encode("utf-8")


def canonicalize(value: object) -> bytes:
    """RFC 8785 canonical JSON bytes of `value` (raises rfc8785.CanonicalizationError)."""
    if is_plain(value):
        try:
            return encode_plain(value)
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 raises its own, precise error
    return rfc8785.dumps(cast(Any, value))
