"""Usage over time from the rollups: per UTC hour or day, optionally split by model, customer or
key, within [start, end). Everything is summed in SQL, amounts exactly (whole units and picounits).

    usage(ledger, start=..., end=..., granularity="day", group_by="model", customer=None) -> Usage
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select

from revshare.instants import as_utc
from revshare.ledger.store import Ledger
from revshare.reporting.rollup import Totals, from_pico
from revshare.reporting.schema import SUMMARIES, TOTAL_COLUMNS, group_columns, rollup_state

__all__ = ["GROUP_BY", "Granularity", "GroupBy", "Usage", "UsageRow", "usage"]

Granularity = Literal["hour", "day"]
GroupBy = Literal["model", "customer", "key", "outcome"]
GROUP_BY: dict[str, str] = {"model": "model", "customer": "customer", "key": "key_id", "outcome": "outcome"}
_CHARGED = ("ok", "client_disconnect")


@dataclass(frozen=True, slots=True)
class UsageRow:
    period_start: datetime
    group: str | None
    currency: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class Usage:
    rows: Sequence[UsageRow]
    folded_seq: int  # the rollups hold exactly the records with seq <= this
    truncated: bool = False  # more rows than the `limit` asked for: `rows` holds the first ones only


def usage(ledger: Ledger, *, start: datetime, end: datetime, granularity: Granularity = "day",
          group_by: GroupBy | None = None, customer: str | None = None, charged_only: bool = False,
          limit: int | None = None) -> Usage:
    """Totals per period (and group, and currency), oldest first; periods without usage are left
    out; at most `limit` rows (a page that shows no more need not read more). A day's figures
    come from the daily rollups, an hour's from the hourly ones, each from the smallest summary
    that has the columns asked for: all are folded from the same records in the same
    transaction, so they always agree."""
    needed = {GROUP_BY[group_by]} if group_by else set()
    needed |= {"customer"} if customer is not None else set()
    needed |= {"outcome"} if charged_only else set()
    table = next(t for t in SUMMARIES[granularity] if needed <= set(group_columns(t)))  # the smallest that has them
    when = table.c[granularity]
    dimension = table.c[GROUP_BY[group_by]] if group_by else None
    keys = [when, table.c.currency, *([dimension] if dimension is not None else [])]
    query = (select(*keys, *(func.sum(table.c[name]) for name in TOTAL_COLUMNS))
             .where(when >= start, when < end).group_by(*keys).order_by(*keys))
    if customer is not None:
        query = query.where(table.c.customer == customer)
    if charged_only:
        query = query.where(table.c.outcome.in_(_CHARGED))
    if limit is not None:
        query = query.limit(limit + 1)
    with ledger.engine.connect() as conn:
        folded = int(conn.execute(select(rollup_state.c.folded_seq)).scalar_one())
        rows = conn.execute(query).all()
    truncated = limit is not None and len(rows) > limit
    width = len(keys)
    starts: dict[datetime, datetime] = {}  # each period's start in UTC, made once
    result = []
    for row in rows[:limit] if truncated else rows:
        requests, prompt, completion, cached, units, pico = (int(x) for x in row[width:])
        at = starts.get(row[0])
        if at is None:
            at = starts[row[0]] = as_utc(row[0])
        result.append(UsageRow(at, str(row[2]) if dimension is not None else None, str(row[1]),
                               Totals(requests, prompt, completion, cached, from_pico(units, pico))))
    return Usage(result, folded, truncated)
