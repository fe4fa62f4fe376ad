"""The lease an admitted request holds while it runs: a rate-limit ticket and its durable intent.

    lease_request(gateway, ask, body, body_digest) -> Lease    (raises Refused, IdempotencyConflict)

Admission first (`metering.admission`: a value, raised here as `Refused`), then the bound on what
the request may use (`metering.bound`).

Rate limits are taken first (in this process, or in Redis shared by every replica), then the
intent goes into the next group commit: the budget reservation of the request's most cost, the
idempotency claim, and the row a crash leaves behind. A ledger that cannot be written refuses
the request here (fail closed), before the engine sees anything. `Lease.finish` turns the run's
tokens into the record and what its transaction settles.

Each request has an `Observation` (what the access log and the HTTP series need: who, which
model, the record's id and outcome, tokens, first-chunk time). The API's middleware puts one in
`OBSERVATION` before the route runs; the lease takes it (or makes its own) and fills it, and
`Lease.finish` observes the request's duration and, for streams, time to first token and time per
output token, once per record.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from revshare.config import Limits
from revshare.engines.base import UsageMeter
from revshare.ledger.store import LedgerError
from revshare.metering.admission import Ask, admit
from revshare.metering.bound import Bound, budget_period, request_bound
from revshare.metering.limits import LimitExceeded, Ticket
from revshare.metering.meter import Admitted
from revshare.metering.refusal import Refusal, RefusalKind
from revshare.metering.reservation import (
    IN_FLIGHT_RETRY_AFTER_S,
    BudgetRow,
    Final,
    IdemClaim,
    IdemDone,
    Intent,
    to_units,
)
from revshare.records.record import Outcome, UsageRecord
from revshare.serving.gateway import Gateway, ModelSeries

__all__ = ["OBSERVATION", "IdempotencyConflict", "Lease", "Observation", "body_hash", "lease_request", "open_lease"]


@dataclass(slots=True)
class Observation:
    """What one request's access-log line and HTTP series need; filled as the request goes.

    Never prompt or completion text, never a secret. Times are `time.perf_counter()` values.
    `leased` is true while a lease is open and has no record yet; `on_finish`, when the HTTP
    exchange ended before that (a stream whose client left), is called once the record is made.
    """

    start: float
    customer: str | None = None
    key_id: str | None = None
    model: str | None = None
    record_id: str | None = None
    outcome: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_chunk: float | None = None
    leased: bool = False
    on_finish: Callable[[Observation], None] | None = None


OBSERVATION: ContextVar[Observation | None] = ContextVar("revshare_observation", default=None)


class IdempotencyConflict(Exception):
    """Another request holds (or held) this customer's Idempotency-Key."""


def body_hash(endpoint: str, body: dict[str, Any]) -> str:
    """What makes two requests "the same" for an Idempotency-Key: endpoint and parsed body."""
    canonical = json.dumps([endpoint, body], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)
class Lease:
    """An admitted request with what it holds: rate-limit ticket, intent, budget reservation."""

    admitted: Admitted
    bound: Bound
    ticket: Ticket | None
    budgets: tuple[BudgetRow, ...]
    written: bool  # the intent is in the ledger
    obs: Observation
    series: ModelSeries
    capture: list[bytes] | None = None  # an idempotent stream's events, to replay
    finished: bool = field(default=False)

    def finish(self, meter: UsageMeter, outcome: Outcome, error_code: str = "", status: int | None = None,
               response: str | None = None) -> tuple[UsageRecord, Final]:
        record = self.admitted.finish(meter, outcome, error_code)
        if self.ticket is not None:
            self.ticket.settle(meter.prompt_tokens + meter.completion_tokens)
        if not self.finished:  # a second finish (the ledger failed) replaces the record: time it once
            self._observe_times(meter.completion_tokens)
        self.finished = True
        self._observe_record(record)
        idem = None
        if self.admitted.idempotency_key is not None and self.written:
            idem = IdemDone(self.admitted.customer, self.admitted.idempotency_key, status, response)
        budgets = tuple((b.scope, b.period) for b in self.budgets) if self.written else ()
        charged = to_units(record.amount) if budgets else 0
        return record, Final(record.id, self.bound.units if budgets else 0, charged, budgets, idem)

    def _observe_times(self, completion_tokens: int) -> None:
        obs, series = self.obs, self.series
        end = time.perf_counter()
        series.duration.observe(end - obs.start)
        first = obs.first_chunk
        if first is not None:
            series.first_token.observe(first - obs.start)
            if completion_tokens > 1:
                series.per_token.observe((end - first) / (completion_tokens - 1))

    def _observe_record(self, record: UsageRecord) -> None:
        obs = self.obs
        obs.record_id, obs.outcome = record.id, record.outcome.value
        obs.prompt_tokens, obs.completion_tokens = record.prompt_tokens, record.completion_tokens
        obs.leased = False
        done, obs.on_finish = obs.on_finish, None
        if done is not None:
            done(obs)


def _subjects(gateway: Gateway, admitted: Admitted) -> list[tuple[str, Limits]]:
    subjects: list[tuple[str, Limits]] = []
    directory = gateway.directory
    customer = directory.customer(admitted.customer)
    if customer is not None:
        subjects.append((f"customer:{customer.name}", customer))
    key_limits = directory.key_limit(admitted.key_id)
    if key_limits is not None and key_limits.customer == admitted.customer:
        subjects.append((f"key:{admitted.key_id}", key_limits))
    return subjects


async def _take_limits(gateway: Gateway, subjects: list[tuple[str, Limits]], tokens: int) -> Ticket | None:
    limited = [(name, limits) for name, limits in subjects if limits.limited]
    if not limited:
        return None
    try:
        return await gateway.limiter.take(limited, tokens)
    except LimitExceeded as exc:
        raise gateway.refuse(Refusal(RefusalKind.RATE_LIMITED, exc.message, retry_after=exc.retry_after)) from None


async def lease_request(gateway: Gateway, ask: Ask, body: Any, body_digest: str | None) -> Lease:
    """Admit a request and open its lease. `body` is the parsed request (messages or prompt)."""
    obs = OBSERVATION.get()
    if obs is not None:
        obs.customer, obs.key_id, obs.model = ask.customer, ask.key_id, ask.model[:128]
    admitted = admit(gateway.catalog, gateway.engines, ask, customers=gateway.directory)
    if isinstance(admitted, Refusal):
        raise gateway.refuse(admitted)
    bound = request_bound(body, admitted.model.context_length, admitted.model.max_tokens_for(ask.max_tokens),
                         admitted.price)
    return await open_lease(gateway, admitted, bound, body_digest)


async def open_lease(gateway: Gateway, admitted: Admitted, bound: Bound, body_digest: str | None) -> Lease:
    """Rate limits, then the durable intent (budget reservation, idempotency claim)."""
    subjects = _subjects(gateway, admitted)
    ticket = await _take_limits(gateway, subjects, bound.tokens)
    budgets = tuple(
        BudgetRow(name, budget_period(limits.budget_period), to_units(limits.budget))
        for name, limits in subjects if limits.budget is not None
    )
    claim = None
    if admitted.idempotency_key is not None and body_digest is not None:
        claim = IdemClaim(admitted.customer, admitted.idempotency_key, body_digest)
    intent = Intent(admitted.record_id, gateway.instance, bound.units, budgets, _request_json(admitted), claim)
    fail_open = gateway.catalog.server.fail_open
    obs = _observation(admitted)
    try:
        result = await gateway.writer.reserve(intent)
    except LedgerError:
        if fail_open:
            obs.leased = True
            return Lease(admitted, bound, ticket, budgets, False, obs, gateway.model_series(admitted.model.id))
        if ticket is not None:
            ticket.settle(0)
        raise gateway.refuse(Refusal(RefusalKind.LEDGER_UNAVAILABLE,
                                     "the usage ledger cannot be written; the request was not run",
                                     retry_after=1)) from None
    except BaseException:
        if ticket is not None:
            ticket.settle(0)
        raise
    if not result.ok:
        if ticket is not None:
            ticket.settle(0)
        if result.refused_by == "idempotency":
            raise IdempotencyConflict()
        if result.in_flight:
            # Money is left, but requests still running have reserved it: they release what they do
            # not spend when they end, so this is "retry", not "payment required".
            raise gateway.refuse(Refusal(
                RefusalKind.BUDGET_RESERVED_IN_FLIGHT,
                f"the budget of {result.refused_by} is reserved by requests still running (each reserves its "
                "most cost, prompt plus max_tokens at the current price, until it ends); retry once they have "
                "finished, or lower max_tokens", retry_after=IN_FLIGHT_RETRY_AFTER_S))
        raise gateway.refuse(Refusal(
            RefusalKind.BUDGET_EXCEEDED,
            f"the budget of {result.refused_by} cannot cover this request even with no other request running "
            "(its most cost, prompt plus max_tokens at the current price, is reserved before it runs); lower "
            "max_tokens or raise the budget"))
    capture: list[bytes] | None = [] if claim is not None and admitted.stream else None
    obs.leased = True
    return Lease(admitted, bound, ticket, budgets, True, obs, gateway.model_series(admitted.model.id),
                 capture=capture)


def _observation(admitted: Admitted) -> Observation:
    """This request's observation (the middleware's, or a new one when there is none: the
    duration then starts at the lease), filled with who and what."""
    obs = OBSERVATION.get()
    if obs is None:
        obs = Observation(time.perf_counter())
    obs.customer, obs.key_id, obs.model = admitted.customer, admitted.key_id, admitted.model.id
    return obs


def _request_json(a: Admitted) -> dict[str, Any]:
    return {"customer": a.customer, "key_id": a.key_id, "model": a.model.id, "engine": a.model.engine,
            "endpoint": a.endpoint, "stream": a.stream, "price_version": a.price.version,
            "currency": a.price.currency, "licensors": list(a.licensors), "idempotency_key": a.idempotency_key,
            "end_user": a.end_user}
