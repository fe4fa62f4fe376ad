"""Reading an Idempotency-Key's state (claims and completions are written in group commits)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from revshare.ledger.admission_schema import idempotency_keys
from revshare.ledger.store import Ledger

__all__ = ["IdemState", "lookup"]


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
