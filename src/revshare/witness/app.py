"""The witness over HTTP (Starlette): C2SP tlog-witness add-checkpoint, and the latest cosigned checkpoints.

    POST /add-checkpoint        body: see protocol.py
        200 text/plain          the cosignature line(s), `— <witness> <base64>`
        400 text/plain          malformed body or checkpoint, extension lines, old size > size
        403 text/plain          no valid signature of the log's key
        404 text/plain          a log this witness does not follow
        409 text/x.tlog.size    `<latest cosigned size>\\n`: the old size is not that size
        409 text/plain          same size as the latest cosigned checkpoint, another root (a fork)
        422 text/plain          the consistency proof does not verify
    GET /checkpoint/<origin>    the latest checkpoint cosigned for <origin>: the signed note with
                                the log's signature(s) and this witness's cosignature; 404 if none

This module only maps: each WitnessError to its status, one place. The checks are service.py's.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from revshare.witness.errors import (
    BadProofError,
    ForkError,
    LogSignatureError,
    MalformedRequestError,
    StaleSizeError,
    UnknownLogError,
    WitnessError,
)
from revshare.witness.protocol import MAX_BODY
from revshare.witness.service import Witness

__all__ = ["SIZE_MEDIA_TYPE", "STATUS", "create_app"]

SIZE_MEDIA_TYPE = "text/x.tlog.size"
STATUS: dict[type[WitnessError], int] = {
    MalformedRequestError: 400,
    LogSignatureError: 403,
    UnknownLogError: 404,
    StaleSizeError: 409,
    ForkError: 409,
    BadProofError: 422,
}


def error_response(error: WitnessError) -> Response:
    """The answer to a refused request: its status, and for a stale old size the size in its own media type."""
    if isinstance(error, StaleSizeError):
        # Exactly this media type, no charset parameter: clients compare the header as a string.
        return Response(f"{error.known}\n", status_code=409, headers={"content-type": SIZE_MEDIA_TYPE})
    return PlainTextResponse(f"{error}\n", status_code=STATUS.get(type(error), 500))


def create_app(witness: Witness) -> Starlette:
    """The ASGI app of one witness."""

    async def add_checkpoint(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return error_response(MalformedRequestError(f"body over {MAX_BODY} bytes"))
        try:
            lines = await run_in_threadpool(witness.add_checkpoint, bytes(body))
        except WitnessError as exc:
            return error_response(exc)
        return PlainTextResponse(lines)

    async def checkpoint(request: Request) -> Response:
        try:
            note = await run_in_threadpool(witness.latest_checkpoint, request.path_params["origin"])
        except WitnessError as exc:
            return error_response(exc)
        return PlainTextResponse(note)

    return Starlette(routes=[
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/checkpoint/{origin:path}", checkpoint, methods=["GET"]),
    ])
