"""Idempotency-Key state: reading it, and deleting stored responses past their retention window.

Claims and completions are written in group commits (`reservations.py`). A completed key holds
the whole response (a stream: its SSE text), which is completion text: it is kept for the
retention window (`server.idempotency_retention_s`, 24 hours by default) from the first request,
then deleted. Two things enforce the window:

- at claim time, a completed key past the window is taken over by the new request (it runs and
  is billed as a new one), so an expired response is never replayed;
- `sweep_expired`, run by the gateway at every log tick, deletes the expired rows, so the text
  does not outlive the window by more than a tick while no request reuses the key.

A key whose first request still runs (no status yet) is never deleted here: the request's own
record releases or completes it, and crash recovery resolves it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from revshare.instants import utc_now
from revshare.ledger.admission_schema import idempotency_keys
from revshare.ledger.store import Ledger

__all__ = ["DEFAULT_RETENTION_S", "SWEEP_BATCH", "IdemState", "lookup", "sweep_expired", "sweep_quietly"]

log = logging.getLogger("revshare.ledger")

DEFAULT_RETENTION_S = 86_400.0  # ServerConfig.idempotency_retention_s's default
SWEEP_BATCH = 10_000  # most rows one sweep deletes (one short transaction); the next tick takes the rest


@dataclass(frozen=True, slots=True)
class IdemState:
    body_hash: str
    record_id: str
    status: int | None  # None while the first request still runs
    response: str | None


def lookup(ledger: Ledger, customer: str, key: str) -> IdemState | None:
    query = select(idempotency_keys).where(idempotency_keys.c.customer == customer, idempotency_keys.c.key == key)
    with ledger.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    m = row._mapping
    return IdemState(m["body_hash"], m["record_id"], m["status"], m["response"])


def sweep_expired(ledger: Ledger, retention_s: float, *, now: datetime | None = None,
                  limit: int = SWEEP_BATCH) -> int:
    """Delete completed keys claimed more than `retention_s` ago (at most `limit`); return how many.

    On PostgreSQL rows another transaction holds (a claim taking an expired key over) are skipped,
    not waited for, so the sweep can never deadlock with a group commit; it takes them next time.
    """
    k = idempotency_keys
    cutoff = (now or utc_now()) - timedelta(seconds=retention_s)
    expired = (select(k.c.customer, k.c.key)
               .where(k.c.status.is_not(None), k.c.created_at < cutoff)
               .limit(limit))
    if not ledger.is_sqlite:
        expired = expired.with_for_update(skip_locked=True)
    with ledger.engine.begin() as conn:
        result = conn.execute(delete(k).where(tuple_(k.c.customer, k.c.key).in_(expired)))
    return int(result.rowcount)


def sweep_quietly(ledger: Ledger, retention_s: float) -> int:
    """`sweep_expired` for a background loop: a ledger that cannot be written is logged, not raised."""
    try:
        swept = sweep_expired(ledger, retention_s)
    except SQLAlchemyError as exc:
        log.warning("idempotency: could not delete expired responses: %s", exc.__class__.__name__)
        return 0
    if swept:
        log.info("idempotency: deleted %d stored response(s) past their %g s window", swept, retention_s)
    return swept
