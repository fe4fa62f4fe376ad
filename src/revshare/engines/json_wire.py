"""JSON as the OpenAI wire carries it, compact UTF-8 bytes, encoded and parsed by orjson.

Why: the standard library's `json` costs a request three encoder set-ups and two parses in
Python wrappers around its C core; orjson does each in one call (docs/BENCHMARKS.md).

What orjson refuses to encode (an integer past 64 bits, a lone surrogate, a key that is not a
string) the standard library encodes, in ASCII with escapes, so no value that used to pass fails
here. orjson writes a NaN or an infinity as `null`, where the standard library wrote text that is
not JSON. Parsing is stricter than the standard library's: `NaN`, `Infinity` and lone surrogates
are not JSON, and are refused as such (`ValueError`, as `json.loads` raises for bad JSON).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

loads = orjson.loads


def dumps(value: Any) -> bytes:
    """`value` as compact JSON in UTF-8 (`ValueError` for a NaN that orjson did not take)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
