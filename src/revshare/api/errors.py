"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with the right status.

The one place where statuses are chosen. Every failure a client can cause ends here as a 4xx
with a clear message; nothing below the HTTP layer ever turns into a 500 with a traceback.

    Refused (a domain refusal)   -> REFUSAL_STATUS[kind]           (metering.refusal)
    EngineError and subclasses   -> ENGINE_ERROR_STATUS by class   (engines translate HTTP, llama.cpp)
    SQLAlchemyError (foreign)    -> 503 ledger_unavailable, Retry-After: 1
    RequestValidationError       -> 400 naming the parameter OpenAI-style (`messages[0].content`)
    anything else                -> 500 internal_error, logged, never charged (answered by
                                    `api.edge.Edge`: the connection stays open)

Every message and param is sent as UTF-8 text: a lone surrogate a client wrote is escaped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from revshare.api.protocol import WireError
from revshare.engines.base import EngineError, EngineRejected, EngineUnavailable
from revshare.metering.refusal import Refusal, RefusalKind, Refused

__all__ = ["ENGINE_ERROR_STATUS", "ERROR_SCHEMA", "REFUSAL_STATUS", "ApiError", "engine_error_body",
           "engine_error_status", "error_body", "error_responses", "install_error_handlers", "internal_error",
           "known_error_response", "param_path", "printable", "refusal_body", "refusal_response"]

log = logging.getLogger("revshare.api")

REFUSAL_STATUS: dict[RefusalKind, int] = {
    RefusalKind.MODEL_NOT_FOUND: 404,
    RefusalKind.MODEL_NOT_ALLOWED: 403,
    RefusalKind.TERMS_NOT_ACCEPTED: 403,
    RefusalKind.MODEL_ACCESS_SUSPENDED: 403,
    RefusalKind.CONTEXT_LENGTH_EXCEEDED: 400,
    RefusalKind.NO_PRICE: 503,
    RefusalKind.ENGINE_UNAVAILABLE: 503,
    RefusalKind.RATE_LIMITED: 429,
    RefusalKind.BUDGET_EXCEEDED: 402,
    RefusalKind.BUDGET_RESERVED_IN_FLIGHT: 429,
    RefusalKind.LEDGER_UNAVAILABLE: 503,
    RefusalKind.IDEMPOTENCY_KEY_REUSED: 422,
    RefusalKind.IDEMPOTENCY_KEY_IN_USE: 409,
}

# Most specific class first.
ENGINE_ERROR_STATUS: tuple[tuple[type[EngineError], int], ...] = (
    (EngineRejected, 400),
    (EngineUnavailable, 503),
    (EngineError, 502),
)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "server_error",
    503: "server_error",
}


_DESCRIPTIONS = {
    400: "Bad request: malformed JSON, a bad or unknown parameter",
    401: "Missing or wrong credentials",
    402: "The budget or prepaid credit cannot cover the request's most cost",
    403: "Not allowed for this caller",
    404: "No such model, route or object",
    409: "A request with this Idempotency-Key is still running",
    413: "Request body too large",
    415: "The body is not sent as JSON (Content-Type: application/json)",
    422: "Idempotency-Key reused with a different body",
    429: "A rate limit was reached; see Retry-After",
    502: "The upstream engine failed",
    503: "Engine or ledger unavailable",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string"},
            "param": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]},
        },
    }},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each error status with the OpenAI error shape."""
    return {
        status: {"description": _DESCRIPTIONS.get(status, "Error"),
                 "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status in statuses
    }


class ApiError(Exception):
    """An error the client sees, raised by routes and dependencies."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": printable(message),
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": None if param is None else printable(param),
            "code": code,
        }
    }


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    return error_body(REFUSAL_STATUS[refusal.kind], refusal.message, refusal.kind.value, refusal.param)


def refusal_response(refusal: Refusal) -> JSONResponse:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after is not None else None
    return JSONResponse(refusal_body(refusal), status_code=REFUSAL_STATUS[refusal.kind], headers=headers)


def engine_error_status(exc: EngineError) -> int:
    return next(status for cls, status in ENGINE_ERROR_STATUS if isinstance(exc, cls))


def engine_error_body(exc: EngineError) -> tuple[int, str]:
    """The status and JSON text a client gets for an engine failure (also stored for replays)."""
    status = engine_error_status(exc)
    return status, json.dumps(error_body(status, exc.message, exc.code, exc.param))


def error_response(
    status: int, message: str, code: str | None = None, param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, param), status_code=status, headers=headers)


def param_path(parts: Sequence[str | int]) -> str | None:
    """An OpenAI-style parameter name: `messages[0].content`. Text that cannot be UTF-8 is escaped."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + printable(part)
    return out or None


def printable(text: str) -> str:
    """`text` as it was, except lone surrogates (which UTF-8 cannot carry) written as `\\udxxx`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


_SOURCES = ("body", "query", "path", "header", "cookie")
_MISSING = object()


def _located(error: Any, body: Any) -> list[str | int]:
    """The parts of a pydantic location that name something in the input.

    Pydantic puts the members of a union in the location too (`str`, `list[...]`, the role of a
    message, the type of a content part), and a member's tag can also be a key (`text` of a text
    part). The path kept is the one through the client's own body that reaches the value the
    error is about (for a missing field: the object that lacks it)."""
    loc = list(error.get("loc", ()))
    if loc and loc[0] in _SOURCES:
        source, loc = loc[0], loc[1:]
        if source != "body":
            return loc
    missing = error.get("type") == "missing" and bool(loc)
    walk = loc[:-1] if missing else loc
    target = error.get("input")
    path = _path_to(body, walk, target)
    if path is None:  # not found by identity: every part that is a key or an index
        path = _path_to(body, walk, None, greedy=True) or []
    return [*path, loc[-1]] if missing else path


def _path_to(node: Any, loc: list[Any], target: Any, greedy: bool = False) -> list[str | int] | None:
    if not loc:
        return [] if greedy or node is target else None
    part, rest = loc[0], loc[1:]
    child: Any = _MISSING
    if isinstance(node, dict) and isinstance(part, str):
        child = node.get(part, _MISSING)
    elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        child = node[part]
    if child is not _MISSING:
        below = _path_to(child, rest, target, greedy)
        if below is not None:
            return [part, *below]
    return _path_to(node, rest, target, greedy)  # a union member's tag


_WORDS = (("a valid dictionary or object to extract fields from", "an object"), ("a valid dictionary", "an object"),
          ("a valid list", "an array"), ("a valid string", "a string"), ("a valid integer", "an integer"),
          ("a valid boolean", "a boolean"), ("a valid number", "a number"))


def _expected(messages: list[str]) -> str:
    """Pydantic's 'Input should be a valid list' (one per union member) -> 'expected an array or ...'."""
    wanted = []
    for message in messages:
        text = message.removeprefix("Input should be ")
        for pydantic_words, ours in _WORDS:
            text = text.replace(pydantic_words, ours)
        wanted.append(text)
    return "expected " + " or ".join(dict.fromkeys(wanted))


def _mismatch(error: Any) -> bool:
    """An error saying the input is not of a type (or one of the values) a union member takes."""
    kind = str(error.get("type", ""))
    return kind.endswith("_type") or kind == "literal_error"


def _rank(error: Any) -> int:
    """Among errors at one depth: a wrong value of a literal (a part's `type`) tells the most, then
    what was wrong inside a member of the right type, and "not a string" from other members least."""
    kind = str(error.get("type", ""))
    return 0 if kind == "literal_error" else 2 if kind.endswith("_type") else 1


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None, str]:
    errors = list(exc.errors())
    if not errors:
        return "invalid request body", None, "invalid_request"
    body = exc.body
    # The deepest error is the most specific (a union reports one error per member), and one about
    # the member the input's type matched says more than "should be a string" from the others.
    located = [(_located(e, body), e) for e in errors]
    parts, first = min(located, key=lambda pe: (-len(pe[0]), _rank(pe[1])))
    kind = first.get("type", "")
    ctx = first.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, WireError):
        param = param_path([*parts, cause.param])
        return str(cause), param, cause.code
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        field = str(ctx.get("discriminator", "")).strip("'")
        param = param_path([*parts, field])
        if kind == "union_tag_not_found":
            return f"missing required parameter: {param!r}", param, "missing_required_parameter"
        return (f"invalid value for {param!r}: {printable(str(ctx.get('tag')))!r} is not one of "
                f"{ctx.get('expected_tags')}"), param, "invalid_value"
    param = param_path(parts)
    if kind == "json_invalid":
        return "the request body is not valid JSON", None, "invalid_json"
    if param is None and kind in ("model_type", "model_attributes_type", "dict_type"):
        return "the request body must be a JSON object", None, "invalid_value"
    if kind == "missing":
        return f"missing required parameter: {param!r}", param, "missing_required_parameter"
    if kind == "extra_forbidden":
        return f"unrecognized request argument supplied: {param}", param, "unknown_parameter"
    same = [str(e.get("msg", "")) for p, e in located if p == parts and _mismatch(e)] if _mismatch(first) else []
    if same and all(m.startswith("Input should be ") for m in same):
        message = _expected(same)
    else:
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if param:
        message = f"invalid value for {param!r}: {message}"
    return message, param, "invalid_value"


def known_error_response(exc: Exception) -> JSONResponse | None:
    """The answer to an error a route may raise (see the table above); None for anything else.

    Shared by the app's handlers and `api.fast_lane`, which serves its routes outside FastAPI."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)
    if isinstance(exc, Refused):
        return refusal_response(exc.refusal)
    if isinstance(exc, EngineError):
        return error_response(engine_error_status(exc), exc.message, exc.code, exc.param)
    if isinstance(exc, SQLAlchemyError):
        # Never the statement or its parameters (a key hash, a secret) in a log or a message.
        log.warning("ledger unavailable: %s", exc.__class__.__name__)
        return error_response(503, "the usage ledger cannot be read; retry shortly", "ledger_unavailable",
                              headers={"Retry-After": "1"})
    return None


def install_error_handlers(app: FastAPI) -> None:
    async def _known(_: Request, exc: Exception) -> JSONResponse:
        answer = known_error_response(exc)
        assert answer is not None  # registered for the classes it answers
        return answer

    for cls in (ApiError, Refused, EngineError, SQLAlchemyError):
        app.add_exception_handler(cls, _known)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param, code = _validation_message(exc)
        return error_response(400, message, code, param)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        message = str(exc.detail) if exc.detail else "request failed"
        if status == 404:
            message = "no such route; see /openapi.json"
        elif status == 400 and "parsing the body" in message:
            message = "the request body is not valid JSON (or not UTF-8, or nested too deeply)"
        return error_response(status, message, None, None, getattr(exc, "headers", None))


def internal_error() -> JSONResponse:
    """The answer to a bug of ours, never the client's fault: said without leaking internals."""
    return error_response(500, "internal error; the request was not charged", "internal_error")
