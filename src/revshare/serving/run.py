"""Serving one completion request: admit it, reserve it, run it on its engine, meter it exactly once.

Order of a request (docs/RELIABILITY.md):

0. `admit`: the model exists, the customer may use it, max_tokens fits, a price and an engine.
1. `open_lease`: rate limits (in this process), then the intent in the next group commit: budget
   reservation of the request's most cost, idempotency claim, and the row a crash leaves behind.
   A ledger that cannot be written is a 503 here (fail closed), before the engine sees anything.
2. The engine runs.
3. The record is appended, in the transaction that settles the reservation to the actual cost,
   stores an idempotent response and deletes the intent, before the response is complete: a
   non-streaming body is returned, and a stream's final events are sent, only once it committed.
   A client that goes away mid-stream still gets its record (outcome `client_disconnect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from revshare.api.errors import ApiError, error_body
from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.serving.gateway import Gateway
from revshare.config import Limits, Price
from revshare.engines.base import Endpoint, Engine, EngineError, GenerationRequest, UsageMeter
from revshare.ledger.reservations import BudgetRow, Final, IdemClaim, IdemDone, Intent, to_units
from revshare.ledger.store import ApiKey, LedgerError
from revshare.metering.admission import Bound, budget_period, request_bound
from revshare.metering.limits import LimitExceeded, Ticket
from revshare.metering.meter import Admitted
from revshare.records.record import Outcome, UsageRecord

__all__ = ["IdempotencyConflict", "Lease", "admit", "body_hash", "open_lease", "run_complete", "run_stream",
           "stream_trailer"]

log = logging.getLogger("revshare.api")

_ID_PREFIX = {"chat.completions": "chatcmpl-", "completions": "cmpl-"}
_CHUNK_OBJECT = {"chat.completions": "chat.completion.chunk", "completions": "text_completion"}

Body = ChatCompletionRequest | CompletionRequest


class IdempotencyConflict(Exception):
    """Another request holds (or held) this customer's Idempotency-Key."""


def admit(
    gateway: Gateway,
    key: ApiKey,
    body: Body,
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
    admitted = Admitted(
        customer=key.customer, key_id=key.key_id, model=model,
        licensors=catalog.licensor_chain(model.id),
        price=_price(gateway, model.id), endpoint=endpoint, stream=body.stream,
        idempotency_key=idempotency_key,
    )
    _engine(gateway, admitted)
    return admitted


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


def body_hash(body: Body, endpoint: Endpoint) -> str:
    """What makes two requests "the same" for an Idempotency-Key: endpoint and parsed body."""
    canonical = json.dumps([endpoint, body.model_dump(mode="json", exclude_unset=True)], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)
class Lease:
    """An admitted request with what it holds: rate-limit ticket, intent, budget reservation."""

    admitted: Admitted
    bound: Bound
    ticket: Ticket | None
    budgets: tuple[BudgetRow, ...]
    written: bool  # the intent is in the ledger
    capture: list[bytes] | None = None  # an idempotent stream's events, to replay
    finished: bool = field(default=False)

    def finish(self, meter: UsageMeter, outcome: Outcome, error_code: str = "", status: int | None = None,
               response: str | None = None) -> tuple[UsageRecord, Final]:
        record = self.admitted.finish(meter, outcome, error_code)
        if self.ticket is not None:
            self.ticket.settle(meter.prompt_tokens + meter.completion_tokens)
        self.finished = True
        idem = None
        if self.admitted.idempotency_key is not None and self.written:
            idem = IdemDone(self.admitted.customer, self.admitted.idempotency_key, status, response)
        budgets = tuple((b.scope, b.period) for b in self.budgets) if self.written else ()
        charged = to_units(record.amount) if budgets else 0
        return record, Final(record.id, self.bound.units if budgets else 0, charged, budgets, idem)


def _subjects(gateway: Gateway, key: ApiKey) -> list[tuple[str, Limits]]:
    subjects: list[tuple[str, Limits]] = []
    customer = gateway.catalog.customer(key.customer)
    if customer is not None:
        subjects.append((f"customer:{customer.name}", customer))
    key_limits = gateway.catalog.key_limit(key.key_id)
    if key_limits is not None and key_limits.customer == key.customer:
        subjects.append((f"key:{key.key_id}", key_limits))
    return subjects


async def open_lease(gateway: Gateway, admitted: Admitted, body: Body, body_digest: str | None) -> Lease:
    """Rate limits, then the durable intent (budget reservation, idempotency claim); raise if refused."""
    model = admitted.model
    bound = request_bound(body, model.context_length, body.requested_max_tokens, admitted.price)
    key = ApiKey(admitted.key_id, admitted.customer, "", admitted.started_at, None)
    subjects = _subjects(gateway, key)
    ticket = None
    limited = [(name, limits) for name, limits in subjects if limits.limited]
    if limited:
        try:
            ticket = gateway.limiter.acquire(limited, bound.tokens)
        except LimitExceeded as exc:
            raise ApiError(429, exc.message, code="rate_limit_exceeded",
                           headers={"Retry-After": str(exc.retry_after)}) from None
    budgets = tuple(
        BudgetRow(name, budget_period(limits.budget_period), to_units(limits.budget))
        for name, limits in subjects if limits.budget is not None
    )
    claim = None
    if admitted.idempotency_key is not None and body_digest is not None:
        claim = IdemClaim(admitted.customer, admitted.idempotency_key, body_digest)
    intent = Intent(admitted.record_id, gateway.instance, bound.units, budgets, _request_json(admitted), claim)
    try:
        result = await gateway.writer.reserve(intent)
    except LedgerError:
        if ticket is not None and not gateway.catalog.server.fail_open:
            ticket.settle(0)
        if not gateway.catalog.server.fail_open:
            raise ApiError(503, "the usage ledger cannot be written; the request was not run",
                           code="ledger_unavailable", headers={"Retry-After": "1"}) from None
        return Lease(admitted, bound, ticket, budgets, written=False)
    except BaseException:
        if ticket is not None:
            ticket.settle(0)
        raise
    if not result.ok:
        if ticket is not None:
            ticket.settle(0)
        if result.refused_by == "idempotency":
            raise IdempotencyConflict()
        raise ApiError(402, f"the budget of {result.refused_by} cannot cover this request (its most cost, "
                       f"prompt plus max_tokens at the current price, is reserved before it runs); "
                       "lower max_tokens or raise the budget", code="budget_exceeded")
    capture: list[bytes] | None = [] if claim is not None and admitted.stream else None
    return Lease(admitted, bound, ticket, budgets, written=True, capture=capture)


def _request_json(a: Admitted) -> dict[str, Any]:
    return {"customer": a.customer, "key_id": a.key_id, "model": a.model.id, "engine": a.model.engine,
            "endpoint": a.endpoint, "stream": a.stream, "price_version": a.price.version,
            "currency": a.price.currency, "licensors": list(a.licensors), "idempotency_key": a.idempotency_key}


async def _record(gateway: Gateway, lease: Lease, meter: UsageMeter, outcome: Outcome, error_code: str = "",
                  status: int | None = None, response: str | None = None) -> int | None:
    record, final = lease.finish(meter, outcome, error_code, status, response)
    try:
        return await gateway.writer.append(record, final)
    except LedgerError as exc:
        if gateway.catalog.server.fail_open:
            gateway.writer.submit(record, final)
            return None
        # The client gets a 503: keep the record, uncharged, and release what it held; the
        # writer retries it until the ledger is back.
        gateway.writer.submit(*lease.finish(meter, Outcome.ENGINE_ERROR, "ledger_unavailable"))
        raise ApiError(503, "the usage ledger is unavailable; the request was not completed",
                       code="ledger_unavailable") from exc


def _abandon(gateway: Gateway, lease: Lease, meter: UsageMeter, cancelled: bool) -> None:
    """A request ended by something other than its engine (a cancellation, a bug): record it."""
    if not lease.finished:
        outcome = Outcome.CLIENT_DISCONNECT if cancelled else Outcome.ENGINE_ERROR
        gateway.writer.submit(*lease.finish(meter, outcome, "" if cancelled else "internal_error"))


async def run_complete(gateway: Gateway, lease: Lease, body: Body) -> dict[str, Any]:
    """Run a non-streaming request; return the body once its record is durable."""
    admitted = lease.admitted
    engine = _engine(gateway, admitted)
    meter = UsageMeter()
    request = GenerationRequest(admitted.endpoint, admitted.model, body.engine_params())
    try:
        try:
            data: dict[str, Any] = await engine.complete(request, meter)
        except EngineError as exc:
            outcome = Outcome.REJECTED if exc.status == 400 else Outcome.ENGINE_ERROR
            error = error_body(exc.status, exc.message, exc.code, exc.param)
            await _record(gateway, lease, meter, outcome, exc.code, exc.status, json.dumps(error))
            raise ApiError(exc.status, exc.message, code=exc.code, param=exc.param) from exc
        data["id"] = _ID_PREFIX[admitted.endpoint] + admitted.record_id
        data["model"] = admitted.model.id
        data["usage"] = _usage(meter)
        stored = json.dumps(data) if admitted.idempotency_key is not None else None
        await _record(gateway, lease, meter, Outcome.OK, "", 200, stored)
        return data
    except asyncio.CancelledError:
        _abandon(gateway, lease, meter, cancelled=True)
        raise
    except Exception:
        _abandon(gateway, lease, meter, cancelled=False)
        raise


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


async def run_stream(gateway: Gateway, lease: Lease, body: Body) -> AsyncIterator[bytes]:
    """Run a streaming request as SSE bytes. The engine starts before the first byte is sent,
    so a failure to start still gets a proper error status (see `open_stream`)."""
    admitted = lease.admitted
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
        error = error_body(exc.status, exc.message, exc.code, exc.param)
        await _record(gateway, lease, meter, outcome, exc.code, exc.status, json.dumps(error))
        raise ApiError(exc.status, exc.message, code=exc.code, param=exc.param) from exc
    except asyncio.CancelledError:
        _abandon(gateway, lease, meter, cancelled=True)
        raise
    except Exception:
        _abandon(gateway, lease, meter, cancelled=False)
        raise
    return _events(gateway, lease, meter, chunks, first, response_id, body.wants_usage_chunk)


def stream_trailer(admitted_endpoint: str, response_id: str, model: str, record_id: str, seq: int | None,
                   usage: dict[str, Any] | None, created: int) -> bytes:
    """The end of a stream: the usage chunk (when asked), the record's name, [DONE]."""
    out = b""
    if usage is not None:
        out += _sse({
            "id": response_id, "object": _CHUNK_OBJECT[admitted_endpoint], "created": created,
            "model": model, "choices": [], "usage": usage,
            "revshare": {"record_id": record_id, "seq": seq},
        })
    # Every stream names its record before [DONE], in an SSE comment that clients skip.
    out += b": revshare " + json.dumps({"record_id": record_id, "seq": seq}).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


async def _events(gateway: Gateway, lease: Lease, meter: UsageMeter,
                  chunks: AsyncIterator[dict[str, Any]], first: dict[str, Any] | None,
                  response_id: str, wants_usage: bool) -> AsyncIterator[bytes]:
    admitted = lease.admitted
    outcome, error_code = Outcome.CLIENT_DISCONNECT, ""
    created = int(time.time())
    capture = lease.capture
    try:
        pending = first
        while pending is not None:
            pending["id"] = response_id
            pending["model"] = admitted.model.id
            event = _sse(pending)
            if capture is not None:
                capture.append(event)
            yield event
            try:
                pending = await chunks.__anext__()
            except StopAsyncIteration:
                pending = None
        outcome = Outcome.OK
    except EngineError as exc:
        outcome, error_code = Outcome.ENGINE_ERROR, exc.code
        event = _sse(error_body(exc.status, exc.message, exc.code, exc.param))
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
    except ApiError:
        yield _sse(error_body(503, "the usage ledger is unavailable; the response is incomplete",
                              "ledger_unavailable"))
        return
    yield stream_trailer(admitted.endpoint, response_id, admitted.model.id, admitted.record_id, seq,
                         _usage(meter) if wants_usage else None, created)


async def _close(chunks: AsyncIterator[dict[str, Any]]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(aclose())
