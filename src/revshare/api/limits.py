"""Limits on requests: a strict JSON parse of the body; a query's shape. (The body's size is
bounded before any parsing, at the edge: `api.edge.Edge`, 413 past `server.max_body_bytes`.)

    json_body(body, type)    the body as JSON, or an `ApiError` saying what is wrong with it
    single_query_values      a dependency: each query parameter at most once (no route takes a list;
                             `?end=5&end=9` would otherwise be read as its last value, silently)

`json_body` refuses what `json.loads` lets through and OpenAI does not: a body not sent as
`application/json` (415), bytes that are not UTF-8, duplicate keys, `NaN` and `Infinity`, numbers
too large for a float, nesting deeper than `MAX_JSON_DEPTH`, and strings holding a lone UTF-16
surrogate (`"\\ud800"`: JSON can spell it, no UTF-8 text can hold it).
"""

from __future__ import annotations

import email.message
import functools
import json
import math
import re
from typing import Any

from starlette.requests import Request

from revshare.api.errors import ApiError, param_path

__all__ = ["MAX_JSON_DEPTH", "is_json", "json_body", "single_query_values"]

MAX_JSON_DEPTH = 64
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_body(body: bytes, content_type: str | None) -> Any:
    """The request body parsed as JSON, strictly; an `ApiError` (415 or 400) says what is wrong."""
    if not is_json(content_type):
        got = f"the request has {content_type!r}" if content_type else "the request has none"
        raise ApiError(415, f"send the body as JSON with 'Content-Type: application/json' ({got})",
                       code="unsupported_media_type")
    if not body.strip():
        raise _invalid_json("the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_json(f"the request body is not UTF-8 (byte {exc.start} is 0x{body[exc.start]:02x})") from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise _invalid_json(f"the request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except json.JSONDecodeError as exc:
        raise _invalid_json(f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column "
                            f"{exc.colno})") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise _invalid_json(f"the request body is not valid JSON: {exc}") from None
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH or _ESCAPED_SURROGATE.search(body):
        _check_tree(value)
    return value


@functools.lru_cache(maxsize=64)  # clients send a handful of spellings; parsing one costs 5 µs
def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _invalid_json(message: str) -> ApiError:
    return ApiError(400, message, code="invalid_json")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _invalid_json(f"the key {key!r} appears twice in one object of the request body")
            seen.add(key)
    return value


def _constant(name: str) -> Any:
    raise _invalid_json(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _invalid_json(f"the number {text} is too large")
    return value


# One decoder for every request: json.loads with hooks builds a new one each call.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)


def _check_tree(value: Any) -> None:
    """Depth and text of every node, without recursion (the walk itself must not overflow)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            _check_text(node, path)
            continue
        if isinstance(node, dict):
            children: list[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        if len(path) >= MAX_JSON_DEPTH:
            raise _invalid_json(f"the request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
        for key, child in children:
            if isinstance(key, str):
                _check_text(key, (*path, key))
            stack.append((child, (*path, key)))


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        param = param_path(path)
        code_point = f"\\u{ord(text[exc.start]):04x}"
        raise ApiError(400, f"invalid value for {param!r}: the text holds a lone UTF-16 surrogate ({code_point}), "
                            "which is not Unicode text", code="invalid_value", param=param) from None


def single_query_values(request: Request) -> None:
    """Refuse a query parameter given more than once (400 naming it)."""
    query = request.query_params
    if len(query.multi_items()) == len(query):
        return
    name = next(key for key in query if len(query.getlist(key)) > 1)
    param = param_path([name])
    raise ApiError(400, f"the query parameter {param!r} is given {len(query.getlist(name))} times; give it once",
                   code="invalid_value", param=param)
