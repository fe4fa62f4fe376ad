"""A retry of an Idempotency-Key: the first request's stored response, or a refusal.

    find_replay(gateway, customer, key, digest) -> Replay   (raises Refused, counted by gateway.refuse)

Same key, same body, finished: the stored response (and, for a stream, its record, to write the
trailer). Still running: IDEMPOTENCY_KEY_IN_USE. Another body: IDEMPOTENCY_KEY_REUSED.
"""

from __future__ import annotations

from dataclasses import dataclass

from anyio.to_thread import run_sync

from revshare.ledger.idempotency import IdemState, lookup
from revshare.metering.refusal import Refusal, RefusalKind
from revshare.records.record import UsageRecord
from revshare.serving.gateway import Gateway

__all__ = ["Replay", "find_replay"]


@dataclass(frozen=True, slots=True)
class Replay:
    record_id: str
    status: int
    response: str
    record: UsageRecord | None  # the first request's record, once committed


async def find_replay(gateway: Gateway, customer: str, key: str, digest: str) -> Replay:
    state: IdemState | None = await run_sync(lookup, gateway.ledger, customer, key)
    if state is not None and state.body_hash != digest:
        raise gateway.refuse(Refusal(RefusalKind.IDEMPOTENCY_KEY_REUSED,
                                     "this Idempotency-Key was used with a different request body",
                                     param="Idempotency-Key"))
    if state is None or state.status is None or state.response is None:
        raise gateway.refuse(Refusal(RefusalKind.IDEMPOTENCY_KEY_IN_USE,
                                     "a request with this Idempotency-Key is still running; retry later",
                                     param="Idempotency-Key", retry_after=1))
    records = await run_sync(lambda: gateway.ledger.records(record_id=state.record_id))
    return Replay(state.record_id, state.status, state.response, records[0] if records else None)
