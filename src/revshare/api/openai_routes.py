"""OpenAI-compatible routes: thin maps from HTTP to `serving` and back."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from revshare.api import serving
from revshare.api.auth import gateway_of, require_customer
from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.engines.base import Endpoint
from revshare.ledger.store import ApiKey

__all__ = ["router"]

router = APIRouter(prefix="/v1")

RECORD_HEADER = "x-revshare-record-id"
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


async def _serve(
    request: Request, key: ApiKey, body: ChatCompletionRequest | CompletionRequest,
    endpoint: Endpoint, idempotency_key: str | None,
) -> Any:
    gateway = gateway_of(request)
    admitted = serving.admit(gateway, key, body, endpoint, idempotency_key)
    headers = {RECORD_HEADER: admitted.record_id}
    if body.stream:
        events = await serving.run_stream(gateway, admitted, body)
        headers.update({"cache-control": "no-cache", "x-accel-buffering": "no"})
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    data = await serving.run_complete(gateway, admitted, body)
    return JSONResponse(data, headers=headers)


@router.post("/chat/completions", summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(
    request: Request, body: ChatCompletionRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await _serve(request, key, body, "chat.completions", idempotency_key)


@router.post("/completions", summary="Create a text completion (OpenAI-compatible, legacy)")
async def completions(
    request: Request, body: CompletionRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await _serve(request, key, body, "completions", idempotency_key)


@router.get("/models", summary="List the models this key may use")
async def list_models(request: Request, key: Annotated[ApiKey, Depends(require_customer)]) -> dict[str, Any]:
    catalog = gateway_of(request).catalog
    customer = catalog.customer(key.customer)
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": created, "owned_by": m.licensor or "host"}
            for m in catalog.models
            if customer is not None and customer.may_use(m.id)
        ],
    }
