"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with the right status.

Every failure a client can cause ends here as a 4xx with a clear message; nothing below the
HTTP layer ever turns into a 500 with a traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

__all__ = ["ApiError", "error_body", "error_responses", "install_error_handlers"]

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

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug of ours, never the client's fault: say so without leaking internals.
        import logging

        logging.getLogger("revshare.api").exception("unhandled error")
        return error_response(500, "internal error; the request was not charged", "internal_error")
