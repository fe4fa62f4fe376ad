"""One page of usage records in ledger (seq) order, filtered, for the usage APIs' record lists:
a cursor (`after_seq`) instead of an offset, so a page costs the same at any depth.

    page = records_page(ledger, RecordFilter(customer="acme", model="gemma-3-270m"), after_seq=0, limit=100)
    page.records, page.next_after_seq, page.has_more

A customer filter walks the (customer, seq) index; the others are checked as the walk goes, so a
rare key or model on a large ledger reads until it has found a page (or the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from revshare.ledger.schema import usage_records as u
from revshare.ledger.store import Ledger
from revshare.records.record import UsageRecord

__all__ = ["RecordFilter", "RecordsPage", "records_page"]


@dataclass(frozen=True, slots=True)
class RecordFilter:
    customer: str | None = None
    key_id: str | None = None
    model: str | None = None
    outcome: str | None = None
    start: datetime | None = None  # started at or after
    end: datetime | None = None  # started before


@dataclass(frozen=True, slots=True)
class RecordsPage:
    records: list[UsageRecord]
    next_after_seq: int  # the cursor of the next page: the last seq listed (or the one given)
    has_more: bool


def records_page(ledger: Ledger, where: RecordFilter, *, after_seq: int = 0, limit: int = 100) -> RecordsPage:
    """Up to `limit` records past `after_seq`, oldest first, that match every filter given."""
    query = select(u.c.seq, u.c.id).where(u.c.seq > after_seq).order_by(u.c.seq).limit(limit + 1)
    for column, value in ((u.c.customer, where.customer), (u.c.key_id, where.key_id), (u.c.model, where.model),
                          (u.c.outcome, where.outcome)):
        if value is not None:
            query = query.where(column == value)
    if where.start is not None:
        query = query.where(u.c.started_at >= where.start)
    if where.end is not None:
        query = query.where(u.c.started_at < where.end)
    with ledger.engine.connect() as conn:
        found = conn.execute(query).all()
    more = len(found) > limit
    ids = [str(row.id) for row in found[:limit]]
    records = ledger.records(record_ids=ids, after_seq=after_seq) if ids else []
    last = int(found[len(ids) - 1].seq) if ids else after_seq
    return RecordsPage(records, last, more)
