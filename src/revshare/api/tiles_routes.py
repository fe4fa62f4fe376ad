"""Each log as C2SP tlog-tiles under its log path: thin maps from HTTP to `logstore.tiles`.

    GET /v1/log/{log}/checkpoint                  (log_routes) the signed checkpoint, cosigned
    GET /v1/log/{log}/tile/{L}/{N}[.p/{W}]        a hash tile: W (256 if full) hashes of tree level 8*L
    GET /v1/log/{log}/tile/entries/{N}[.p/{W}]    an entry bundle: W leaves, each with a 2-byte length

So `https://HOST/v1/log/{log}` is a tlog-tiles base URL that any tiles client reads (with the
licensor's token, as every read of a log). A full tile never changes: it is sent with
`Cache-Control: private, max-age=31536000, immutable`; a partial tile, which a wider one replaces as
the log grows, and the checkpoint get a few seconds (`SHORT_CACHE`). `private`: a log is its
licensor's, so no shared cache keeps it; `revshare log export-tiles` writes the same files for a
public static host or a CDN.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of
from revshare.api.errors import ApiError, error_responses
from revshare.api.log_routes import SHORT_CACHE, LogReader, _mapped
from revshare.api.openapi import LOG_READER
from revshare.logstore.tiles import read_tile
from revshare.tlog.tiles import TileError, parse_tile_path

__all__ = ["FULL_TILE_CACHE", "SHORT_CACHE", "router"]

router = APIRouter(prefix="/v1", tags=["log"])

FULL_TILE_CACHE = "private, max-age=31536000, immutable"
_TILE_OK: dict[int | str, dict[str, Any]] = {200: {"description": "The tile's bytes (C2SP tlog-tiles)",
                  "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/log/{log_id:path}/tile/{tile:path}",
            summary="A tile of the log (C2SP tlog-tiles): hash tile or entry bundle, full or partial",
            operation_id="getTile", response_class=Response, openapi_extra=LOG_READER,
            responses={**_TILE_OK, **error_responses(400, 401, 403, 404, 409)})
async def tile(request: Request, log_id: str, tile: str, _: LogReader) -> Response:
    try:
        coords = parse_tile_path(f"tile/{tile}")
    except TileError as exc:
        raise ApiError(400, str(exc), code="invalid_value", param="tile") from exc
    ledger = gateway_of(request).ledger
    with _mapped():
        data = await run_in_threadpool(read_tile, ledger, log_id, coords)
    return Response(data, media_type="application/octet-stream",
                    headers={"Cache-Control": FULL_TILE_CACHE if coords.full else SHORT_CACHE})
