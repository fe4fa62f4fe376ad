"""Running an admitted request on its engine and metering it exactly once.

    run_complete(gateway, lease, params, wire)  -> the response body, once its record is durable
    run_stream(gateway, lease, params, wire)    -> the stream's events (bytes)

The record is appended in the transaction that settles the lease's reservation and stores an
idempotent response, before the response is complete: a non-streaming body is returned, and a
stream's final events are sent, only once it committed. A client that goes away still gets its
record (outcome `client_disconnect`, the tokens metered so far): a stream's generator is closed,
and a run the caller cancels (the API does, for a whole answer or a stream's first chunk, when
its client disconnects) is recorded as it unwinds; cancelling the engine call stops the engine.
How bodies, errors and events are written on the wire is the caller's (`Wire`, implemented by
the API), so this room holds no HTTP.

Engine failures are counted here, where they are caught (revshare_engine_errors_total, by the
EngineError class); a stream's first chunk is timed here for its time to first token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from revshare.engines.base import (
    Engine,
    EngineError,
    EngineRejected,
    EngineUnavailable,
    GenerationRequest,
    UsageMeter,
)
from revshare.ledger.store import LedgerError
from revshare.metering.refusal import Refusal, RefusalKind, Refused
from revshare.records.record import Outcome
from revshare.serving.gateway import ENGINE_ERROR_KINDS, Gateway
from revshare.serving.lease import Lease

__all__ = ["RESPONSE_ID_PREFIX", "Trailer", "Wire", "run_complete", "run_stream", "usage_of"]

RESPONSE_ID_PREFIX = {"chat.completions": "chatcmpl-", "completions": "cmpl-", "embeddings": "emb-",
                      "responses": "resp_"}


class Trailer(Protocol):
    def __call__(self, endpoint: str, response_id: str, model: str, record_id: str, seq: int | None,
                 usage: dict[str, Any] | None, created: int) -> bytes: ...


class Wire(Protocol):
    """How the caller writes what a run produces (the API's OpenAI JSON and SSE)."""

    def error(self, exc: EngineError) -> tuple[int, str]:
        """The status and JSON body a client gets for this engine failure."""
        ...

    def event(self, payload: dict[str, Any]) -> bytes:
        """One stream event."""
        ...

    def stream_error(self, exc: EngineError | Refusal) -> bytes:
        """The event that ends a stream that failed after its first byte."""
        ...

    trailer: Trailer


def usage_of(meter: UsageMeter) -> dict[str, Any]:
    """The OpenAI `usage` object of a finished run."""
    usage: dict[str, Any] = {
        "prompt_tokens": meter.prompt_tokens,
        "completion_tokens": meter.completion_tokens,
        "total_tokens": meter.prompt_tokens + meter.completion_tokens,
    }
    if meter.cached_tokens or meter.cached_reported:
        usage["prompt_tokens_details"] = {"cached_tokens": meter.cached_tokens}
    return usage


def _engine(gateway: Gateway, lease: Lease) -> Engine:
    engine = gateway.engines.get(lease.admitted.model.engine)
    if engine is None:
        raise gateway.refuse(Refusal(RefusalKind.ENGINE_UNAVAILABLE,
                                     f"engine {lease.admitted.model.engine!r} is not available"))
    return engine


async def _record(gateway: Gateway, lease: Lease, meter: UsageMeter, outcome: Outcome, error_code: str = "",
                  status: int | None = None, response: str | None = None) -> int | None:
    record, final = lease.finish(meter, outcome, error_code, status, response)
    try:
        return await gateway.writer.append(record, final)
    except LedgerError as exc:
        if gateway.catalog.server.fail_open:
            gateway.writer.submit(record, final)
            return None
        # The client gets a refusal: keep the record, uncharged, and release what it held; the
        # writer retries it until the ledger is back.
        gateway.writer.submit(*lease.finish(meter, Outcome.ENGINE_ERROR, "ledger_unavailable"))
        raise gateway.refuse(Refusal(RefusalKind.LEDGER_UNAVAILABLE,
                                     "the usage ledger is unavailable; the request was not completed")) from exc


def _abandon(gateway: Gateway, lease: Lease, meter: UsageMeter, cancelled: bool) -> None:
    """A request ended by something other than its engine (a cancellation, a bug): record it."""
    if not lease.finished:
        outcome = Outcome.CLIENT_DISCONNECT if cancelled else Outcome.ENGINE_ERROR
        gateway.writer.submit(*lease.finish(meter, outcome, "" if cancelled else "internal_error"))


def _count_engine_error(gateway: Gateway, lease: Lease, meter: UsageMeter, exc: EngineError) -> None:
    rejected, unavailable, error = ENGINE_ERROR_KINDS
    kind = (rejected if isinstance(exc, EngineRejected)
            else unavailable if isinstance(exc, EngineUnavailable) else error)
    # A routed model's failure counts against the engine that failed last (a router sets it).
    gateway.metrics.engine_errors.labels(meter.engine or lease.admitted.model.engine, kind).inc()


async def _record_failure(gateway: Gateway, lease: Lease, meter: UsageMeter, exc: EngineError, wire: Wire) -> None:
    _count_engine_error(gateway, lease, meter, exc)
    outcome = Outcome.REJECTED if isinstance(exc, EngineRejected) else Outcome.ENGINE_ERROR
    status, body = wire.error(exc)
    await _record(gateway, lease, meter, outcome, exc.code, status, body)


async def run_complete(gateway: Gateway, lease: Lease, params: dict[str, Any], wire: Wire) -> dict[str, Any]:
    """Run a non-streaming request; return the body once its record is durable.

    An engine failure is recorded, then raised (EngineError) for the caller to answer. Cancelled
    (its client left), the run is recorded `client_disconnect` and the cancellation goes on."""
    admitted = lease.admitted
    engine = _engine(gateway, lease)
    meter = UsageMeter()
    request = GenerationRequest(admitted.endpoint, admitted.model, params)
    try:
        try:
            data: dict[str, Any] = await engine.complete(request, meter)
        except EngineError as exc:
            await _record_failure(gateway, lease, meter, exc, wire)
            raise
        data["id"] = RESPONSE_ID_PREFIX[admitted.endpoint] + admitted.record_id
        data["model"] = admitted.model.id
        data["usage"] = usage_of(meter)
        stored = json.dumps(data) if admitted.idempotency_key is not None else None
        await _record(gateway, lease, meter, Outcome.OK, "", 200, stored)
        return data
    except asyncio.CancelledError:
        _abandon(gateway, lease, meter, cancelled=True)
        raise
    except (EngineError, Refused):
        raise
    except Exception:
        _abandon(gateway, lease, meter, cancelled=False)
        raise


async def run_stream(gateway: Gateway, lease: Lease, params: dict[str, Any], wire: Wire,
                     wants_usage: bool) -> AsyncIterator[bytes]:
    """Start a streaming request and return its events. The engine starts before the first byte
    is sent, so a failure to start is raised (EngineError, recorded) while a status can be set."""
    admitted = lease.admitted
    engine = _engine(gateway, lease)
    meter = UsageMeter()
    request = GenerationRequest(admitted.endpoint, admitted.model, params)
    chunks = engine.stream(request, meter).__aiter__()
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = None
    except EngineError as exc:
        await _record_failure(gateway, lease, meter, exc, wire)
        raise
    except asyncio.CancelledError:
        _abandon(gateway, lease, meter, cancelled=True)
        raise
    except Exception:
        _abandon(gateway, lease, meter, cancelled=False)
        raise
    if first is not None:
        lease.obs.first_chunk = time.perf_counter()
    return _events(gateway, lease, meter, chunks, first, wire, wants_usage)


async def _events(gateway: Gateway, lease: Lease, meter: UsageMeter, chunks: AsyncIterator[dict[str, Any]],
                  first: dict[str, Any] | None, wire: Wire, wants_usage: bool) -> AsyncIterator[bytes]:
    admitted = lease.admitted
    response_id = RESPONSE_ID_PREFIX[admitted.endpoint] + admitted.record_id
    outcome, error_code = Outcome.CLIENT_DISCONNECT, ""
    created = int(time.time())
    capture = lease.capture
    try:
        pending = first
        while pending is not None:
            pending["id"] = response_id
            pending["model"] = admitted.model.id
            event = wire.event(pending)
            if capture is not None:
                capture.append(event)
            yield event
            try:
                pending = await chunks.__anext__()
            except StopAsyncIteration:
                pending = None
        outcome = Outcome.OK
    except EngineError as exc:
        _count_engine_error(gateway, lease, meter, exc)
        outcome, error_code = Outcome.ENGINE_ERROR, exc.code
        event = wire.stream_error(exc)
        stored = b"".join([*(capture or []), event]).decode() if capture is not None else None
        await _record(gateway, lease, meter, outcome, error_code, 200, stored)
        yield event
        return
    finally:
        if outcome is Outcome.CLIENT_DISCONNECT and not lease.finished:
            # The client is gone and this task may be cancelled: hand the record to the writer
            # without waiting (it commits it all the same), then stop the engine. An
            # Idempotency-Key is released: a retry runs (and is billed) as a new request.
            gateway.writer.submit(*lease.finish(meter, outcome))
            await _close(chunks)
    stored = b"".join(capture).decode() if capture is not None else None
    try:
        seq = await _record(gateway, lease, meter, outcome, "", 200, stored)
    except Refused:
        yield wire.stream_error(Refusal(RefusalKind.LEDGER_UNAVAILABLE,
                                        "the usage ledger is unavailable; the response is incomplete"))
        return
    yield wire.trailer(admitted.endpoint, response_id, admitted.model.id, admitted.record_id, seq,
                       usage_of(meter) if wants_usage else None, created)


async def _close(chunks: AsyncIterator[dict[str, Any]]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(aclose())
