"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with the right status.

The one place where statuses are chosen. Every failure a client can cause ends here as a 4xx
with a clear message; nothing below the HTTP layer ever turns into a 500 with a traceback.

    Refused (a domain refusal)   -> REFUSAL_STATUS[kind]           (metering.refusal)
    EngineError and subclasses   -> ENGINE_ERROR_STATUS by class   (engines translate aiohttp, llama.cpp)
    SQLAlchemyError (foreign)    -> 503 ledger_unavailable, Retry-After: 1
    RequestValidationError       -> 400 naming the parameter
    anything else                -> 500 internal_error, logged, never charged
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from revshare.engines.base import EngineError, EngineRejected, EngineUnavailable
from revshare.metering.refusal import Refusal, RefusalKind, Refused

__all__ = ["ENGINE_ERROR_STATUS", "REFUSAL_STATUS", "ApiError", "engine_error_body", "engine_error_status",
           "error_body",
           "error_responses", "install_error_handlers", "refusal_body", "refusal_response"]

log = logging.getLogger("revshare.api")

REFUSAL_STATUS: dict[RefusalKind, int] = {
    RefusalKind.MODEL_NOT_FOUND: 404,
    RefusalKind.MODEL_NOT_ALLOWED: 403,
    RefusalKind.CONTEXT_LENGTH_EXCEEDED: 400,
    RefusalKind.NO_PRICE: 503,
    RefusalKind.ENGINE_UNAVAILABLE: 503,
    RefusalKind.RATE_LIMITED: 429,
    RefusalKind.BUDGET_EXCEEDED: 402,
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
    422: "Idempotency-Key reused with a different body",
    429: "A rate limit was reached; see Retry-After",
    502: "The upstream engine failed",
    503: "Engine or ledger unavailable",
}

_ERROR_SCHEMA: dict[str, Any] = {
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
                 "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
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
            "message": message,
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
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


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None, str]:
    errors = exc.errors()
    if not errors:
        return "invalid request body", None, "invalid_request"
    first = errors[0]
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    param = ".".join(loc) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "the request body is not valid JSON", None, "invalid_json"
    if kind == "missing":
        return f"missing required parameter: {param!r}", param, "missing_required_parameter"
    if kind == "extra_forbidden":
        return f"unrecognized request argument supplied: {param}", param, "unknown_parameter"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if param:
        message = f"invalid value for {param!r}: {message}"
    return message, param, "invalid_value"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)

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

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return refusal_response(exc.refusal)

    @app.exception_handler(EngineError)
    async def _engine(_: Request, exc: EngineError) -> JSONResponse:
        return error_response(engine_error_status(exc), exc.message, exc.code, exc.param)

    @app.exception_handler(SQLAlchemyError)
    async def _ledger(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        # Never the statement or its parameters (a key hash, a secret) in a log or a message.
        log.warning("ledger unavailable: %s", exc.__class__.__name__)
        return error_response(503, "the usage ledger cannot be read; retry shortly", "ledger_unavailable",
                              headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug of ours, never the client's fault: say so without leaking internals.
        log.exception("unhandled error")
        return error_response(500, "internal error; the request was not charged", "internal_error")
