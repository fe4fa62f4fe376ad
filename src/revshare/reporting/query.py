"""Usage over time from the rollups: per UTC hour or day, optionally split by model, customer or
key, within [start, end). Integer totals are summed in SQL; amounts are summed here as Decimals.

    usage(ledger, start=..., end=..., granularity="day", group_by="model", customer=None) -> Usage
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select

from revshare.instants import as_utc
from revshare.ledger.store import Ledger
from revshare.reporting.rollup import Totals
from revshare.reporting.schema import rollup_state
from revshare.reporting.schema import usage_rollups as r

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


def usage(ledger: Ledger, *, start: datetime, end: datetime, granularity: Granularity = "day",
          group_by: GroupBy | None = None, customer: str | None = None, charged_only: bool = False) -> Usage:
    """Totals per period (and group, and currency), oldest first; periods without usage are left out."""
    dimension = getattr(r.c, GROUP_BY[group_by]) if group_by else None
    columns = [r.c.hour, r.c.currency, *([dimension] if dimension is not None else []),
               func.sum(r.c.requests), func.sum(r.c.prompt_tokens), func.sum(r.c.completion_tokens),
               func.sum(r.c.cached_tokens)]
    keys = [r.c.hour, r.c.currency, *([dimension] if dimension is not None else [])]
    query = select(*columns).where(r.c.hour >= start, r.c.hour < end).group_by(*keys)
    amounts = select(*keys, r.c.amount).where(r.c.hour >= start, r.c.hour < end)
    if customer is not None:
        query, amounts = query.where(r.c.customer == customer), amounts.where(r.c.customer == customer)
    if charged_only:
        query, amounts = query.where(r.c.outcome.in_(_CHARGED)), amounts.where(r.c.outcome.in_(_CHARGED))
    with ledger.engine.connect() as conn:
        folded = int(conn.execute(select(rollup_state.c.folded_seq)).scalar_one())
        counted = conn.execute(query).all()
        money = conn.execute(amounts).all()
    width = 3 if dimension is not None else 2
    sums: dict[tuple[object, ...], Decimal] = {}
    for row in money:
        key = tuple(row[:width])
        sums[key] = sums.get(key, Decimal(0)) + Decimal(row[width])
    merged: dict[tuple[datetime, str | None, str], Totals] = {}
    for row in counted:
        key = tuple(row[:width])
        hour = as_utc(row[0])
        period = hour if granularity == "hour" else hour.replace(hour=0)
        group = str(row[2]) if dimension is not None else None
        totals = Totals(int(row[width]), int(row[width + 1]), int(row[width + 2]), int(row[width + 3]), sums[key])
        slot = (period, group, str(row[1]))
        merged[slot] = merged[slot] + totals if slot in merged else totals
    rows = [UsageRow(period, group, currency, totals)
            for (period, group, currency), totals in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1] or "",
                                                                                             kv[0][2]))]
    return Usage(rows, folded)
