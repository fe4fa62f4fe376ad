"""Serving one completion request: admit it, run it on its engine, meter it exactly once.

The record is appended before the response is complete: a non-streaming body is returned, and
a stream's final events are sent, only once the record is committed. A client that goes away
mid-stream still gets its record (outcome `client_disconnect`, tokens produced so far).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from revshare.api.errors import ApiError, error_body
from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.api.state import Gateway
from revshare.config import Price
from revshare.engines.base import Endpoint, Engine, EngineError, GenerationRequest, UsageMeter
from revshare.ledger.store import ApiKey, LedgerError
from revshare.metering.meter import Admitted
from revshare.metering.record import Outcome

__all__ = ["admit", "run_complete", "run_stream"]

_ID_PREFIX = {"chat.completions": "chatcmpl-", "completions": "cmpl-"}
_CHUNK_OBJECT = {"chat.completions": "chat.completion.chunk", "completions": "text_completion"}


def admit(
    gateway: Gateway,
    key: ApiKey,
    body: ChatCompletionRequest | CompletionRequest,
    endpoint: Endpoint,
    idempotency_key: str | None,
) -> Admitted:
    """Decide whether this customer may run this request now; raise ApiError if not."""
    catalog = gateway.catalog
    model = catalog.model(body.model)
    if model is None:
        raise ApiError(404, f"the model {body.model!r} does not exist; see GET /v1/models",
                       code="model_not_found", param="model")
    customer = catalog.customer(key.customer)
    if customer is None or not customer.may_use(model.id):
        raise ApiError(403, f"this key may not use the model {model.id!r}",
                       code="model_not_allowed", param="model")
    max_tokens = body.requested_max_tokens
    if max_tokens is not None and max_tokens > model.context_length:
        raise ApiError(400, f"max_tokens is {max_tokens}, but {model.id!r} has a context of "
                       f"{model.context_length} tokens", code="context_length_exceeded", param="max_tokens")
    return Admitted(
        customer=key.customer, key_id=key.key_id, model=model,
        licensors=catalog.licensor_chain(model.id),
        price=_price(gateway, model.id), endpoint=endpoint, stream=body.stream,
        idempotency_key=idempotency_key,
    )


def _price(gateway: Gateway, model_id: str) -> Price:
    price = gateway.catalog.price_at(model_id, datetime.now(UTC))
    if price is None:
        raise ApiError(503, f"no price is in force yet for {model_id!r}; the operator must add one",
                       code="no_price")
    return price


def _engine(gateway: Gateway, admitted: Admitted) -> Engine:
    engine = gateway.engines.get(admitted.model.engine)
    if engine is None:
        raise ApiError(503, f"engine {admitted.model.engine!r} is not available", code="engine_unavailable")
    return engine


async def _record(gateway: Gateway, admitted: Admitted, meter: UsageMeter, outcome: Outcome,
                  error_code: str = "") -> int:
    try:
        return await gateway.writer.append(admitted.finish(meter, outcome, error_code))
    except LedgerError as exc:
        raise ApiError(503, "the usage ledger is unavailable; the request was not completed",
                       code="ledger_unavailable") from exc


async def run_complete(gateway: Gateway, admitted: Admitted,
                       body: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    """Run a non-streaming request; return the body once its record is durable."""
    engine = _engine(gateway, admitted)
    meter = UsageMeter()
    request = GenerationRequest(admitted.endpoint, admitted.model, body.engine_params())
    try:
        data: dict[str, Any] = await engine.complete(request, meter)
    except EngineError as exc:
        outcome = Outcome.REJECTED if exc.status == 400 else Outcome.ENGINE_ERROR
        await _record(gateway, admitted, meter, outcome, exc.code)
        raise ApiError(exc.status, exc.message, code=exc.code, param=exc.param) from exc
    await _record(gateway, admitted, meter, Outcome.OK)
    data["id"] = _ID_PREFIX[admitted.endpoint] + admitted.record_id
    data["model"] = admitted.model.id
    data["usage"] = _usage(meter)
    return data


def _usage(meter: UsageMeter) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": meter.prompt_tokens,
        "completion_tokens": meter.completion_tokens,
        "total_tokens": meter.prompt_tokens + meter.completion_tokens,
    }
    if meter.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": meter.cached_tokens}
    return usage


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


async def run_stream(gateway: Gateway, admitted: Admitted,
                     body: ChatCompletionRequest | CompletionRequest) -> AsyncIterator[bytes]:
    """Run a streaming request as SSE bytes. The engine starts before the first byte is sent,
    so a failure to start still gets a proper error status (see `open_stream`)."""
    engine = _engine(gateway, admitted)
    meter = UsageMeter()
    request = GenerationRequest(admitted.endpoint, admitted.model, body.engine_params())
    chunks = engine.stream(request, meter).__aiter__()
    response_id = _ID_PREFIX[admitted.endpoint] + admitted.record_id
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = None
    except EngineError as exc:
        outcome = Outcome.REJECTED if exc.status == 400 else Outcome.ENGINE_ERROR
        await _record(gateway, admitted, meter, outcome, exc.code)
        raise ApiError(exc.status, exc.message, code=exc.code, param=exc.param) from exc
    return _events(gateway, admitted, meter, chunks, first, response_id, body.wants_usage_chunk)


async def _events(gateway: Gateway, admitted: Admitted, meter: UsageMeter,
                  chunks: AsyncIterator[dict[str, Any]], first: dict[str, Any] | None,
                  response_id: str, wants_usage: bool) -> AsyncIterator[bytes]:
    outcome, error_code = Outcome.CLIENT_DISCONNECT, ""
    created = int(time.time())
    recorded = False
    try:
        pending = first
        while pending is not None:
            pending["id"] = response_id
            pending["model"] = admitted.model.id
            yield _sse(pending)
            try:
                pending = await chunks.__anext__()
            except StopAsyncIteration:
                pending = None
        outcome = Outcome.OK
    except EngineError as exc:
        outcome, error_code = Outcome.ENGINE_ERROR, exc.code
        recorded = True
        await _record(gateway, admitted, meter, outcome, error_code)
        yield _sse(error_body(exc.status, exc.message, exc.code, exc.param))
        return
    finally:
        if outcome is Outcome.CLIENT_DISCONNECT and not recorded:
            # The client is gone and this task may be cancelled: hand the record to the writer
            # without waiting (it commits it all the same), then stop the engine.
            gateway.writer.submit(admitted.finish(meter, outcome))
            await _close(chunks)
    try:
        seq = await gateway.writer.append(admitted.finish(meter, outcome))
    except LedgerError:
        yield _sse(error_body(503, "the usage ledger is unavailable; the response is incomplete",
                              "ledger_unavailable"))
        return
    if wants_usage:
        yield _sse({
            "id": response_id, "object": _CHUNK_OBJECT[admitted.endpoint], "created": created,
            "model": admitted.model.id, "choices": [], "usage": _usage(meter),
            "revshare": {"record_id": admitted.record_id, "seq": seq},
        })
    # Every stream names its record before [DONE], in an SSE comment that clients skip.
    yield b": revshare " + json.dumps({"record_id": admitted.record_id, "seq": seq}).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


async def _close(chunks: AsyncIterator[dict[str, Any]]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(aclose())
