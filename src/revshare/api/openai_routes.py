"""OpenAI-compatible routes: thin maps from HTTP to `serving` and back."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from revshare.serving import run as serving
from revshare.api.auth import gateway_of, require_customer
from revshare.api.errors import ApiError, error_responses
from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.serving.gateway import Gateway
from revshare.engines.base import Endpoint
from revshare.ledger.idempotency import IdemState, lookup
from revshare.ledger.store import ApiKey

__all__ = ["router"]

router = APIRouter(prefix="/v1")

RECORD_HEADER = "x-revshare-record-id"
REPLAY_HEADER = "idempotent-replayed"
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]

_COMPLETION_ERRORS = error_responses(400, 401, 402, 403, 404, 409, 413, 422, 429, 502, 503)


async def _serve(
    request: Request, key: ApiKey, body: ChatCompletionRequest | CompletionRequest,
    endpoint: Endpoint, idempotency_key: str | None,
) -> Any:
    gateway = gateway_of(request)
    admitted = serving.admit(gateway, key, body, endpoint, idempotency_key)
    digest = serving.body_hash(body, endpoint) if idempotency_key is not None else None
    try:
        lease = await serving.open_lease(gateway, admitted, body, digest)
    except serving.IdempotencyConflict:
        assert idempotency_key is not None and digest is not None
        return await _replay(gateway, key, idempotency_key, digest, body)
    headers = {RECORD_HEADER: admitted.record_id}
    if body.stream:
        events = await serving.run_stream(gateway, lease, body)
        headers.update({"cache-control": "no-cache", "x-accel-buffering": "no"})
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    data = await serving.run_complete(gateway, lease, body)
    return JSONResponse(data, headers=headers)


async def _replay(gateway: Gateway, key: ApiKey, idempotency_key: str, digest: str,
                  body: ChatCompletionRequest | CompletionRequest) -> Response:
    """A retry of an Idempotency-Key: the first response, 409 while it runs, 422 for another body."""
    try:
        state: IdemState | None = await run_in_threadpool(lookup, gateway.ledger, key.customer, idempotency_key)
    except Exception as exc:
        raise ApiError(503, "the usage ledger cannot be read", code="ledger_unavailable") from exc
    if state is not None and state.body_hash != digest:
        raise ApiError(422, "this Idempotency-Key was used with a different request body",
                       code="idempotency_key_reused", param="Idempotency-Key")
    if state is None or state.status is None or state.response is None:
        raise ApiError(409, "a request with this Idempotency-Key is still running; retry later",
                       code="idempotency_key_in_use", param="Idempotency-Key", headers={"Retry-After": "1"})
    headers = {RECORD_HEADER: state.record_id, REPLAY_HEADER: "true"}
    if not body.stream or state.status != 200:
        return Response(state.response, status_code=state.status, media_type="application/json", headers=headers)
    records = await run_in_threadpool(lambda: gateway.ledger.records(record_id=state.record_id))
    seq = records[0].seq if records else None
    usage = None
    if body.wants_usage_chunk and records:
        r = records[0]
        usage = {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                 "total_tokens": r.total_tokens}
    endpoint = records[0].endpoint if records else "chat.completions"
    prefix = "chatcmpl-" if endpoint == "chat.completions" else "cmpl-"
    trailer = serving.stream_trailer(endpoint, prefix + state.record_id, body.model, state.record_id, seq,
                                     usage, int(time.time()))
    headers["cache-control"] = "no-cache"
    return Response(state.response.encode() + trailer, media_type="text/event-stream", headers=headers)


@router.post("/chat/completions", summary="Create a chat completion (OpenAI-compatible)",
             responses=_COMPLETION_ERRORS)
async def chat_completions(
    request: Request, body: ChatCompletionRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await _serve(request, key, body, "chat.completions", idempotency_key)


@router.post("/completions", summary="Create a text completion (OpenAI-compatible, legacy)",
             responses=_COMPLETION_ERRORS)
async def completions(
    request: Request, body: CompletionRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await _serve(request, key, body, "completions", idempotency_key)


@router.get("/models", summary="List the models this key may use", responses=error_responses(401, 503))
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

