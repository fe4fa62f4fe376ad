"""Usage aggregates: the only thing settlement needs from the ledger.

Settlement never reads amounts from records. It recomputes them from token sums and the price
version (prices have at most 6 decimal places, so tokens x price / 1e6 is exact at 12 places
and the sum of per-request amounts equals the amount of the summed tokens).

`aggregate()` is the reference, in Python, over `UsageRecord`s; `aggregate_sql()` is the same
GROUP BY over the `usage_records` table, for the ledger to run. Tests hold them equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from revshare.records.record import Outcome, UsageRecord
from revshare.settlement.period import Window

if TYPE_CHECKING:
    from sqlalchemy.sql import ColumnElement, Select

__all__ = ["CHARGED_OUTCOMES", "UsageAggregate", "aggregate", "aggregate_sql", "sort_aggregates"]

CHARGED_OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome if o.charged)


@dataclass(frozen=True, slots=True, order=True)
class UsageAggregate:
    """Charged usage summed over one group of records.

    Attributes:
      customer, key_id, model, price_version: the group's keys, as on the records.
      segment: index of the window segment (see `Window.edges`) the usage falls in; late
        usage is placed by its append time.
      late: True for records of an already-closed period that arrived after its close.
      requests: number of records; prompt_tokens, completion_tokens: their sums.
    """

    customer: str
    key_id: str
    model: str
    price_version: str
    segment: int
    late: bool
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def key(self) -> tuple[str, str, str, str, int, bool]:
        return (self.customer, self.key_id, self.model, self.price_version, self.segment, self.late)


def sort_aggregates(rows: Iterable[UsageAggregate]) -> tuple[UsageAggregate, ...]:
    """Canonical order (by key), so that equal inputs compare and settle identically."""
    return tuple(sorted(rows))


def aggregate(
    records: Iterable[UsageRecord],
    window: Window,
    appended_at: Mapping[str, datetime] | None = None,
) -> tuple[UsageAggregate, ...]:
    """The reference GROUP BY: charged records the window takes, summed per key.

    `appended_at` maps record id to the time the ledger appended it; a window with `closed_at`
    needs it (to hold back records appended after the close and to find late ones).
    """
    sums: dict[tuple[str, str, str, str, int, bool], list[int]] = {}
    for r in records:
        if not r.outcome.charged:
            continue
        placed = window.place(r.started_at, None if appended_at is None else appended_at.get(r.id))
        if placed is None:
            continue
        key = (r.customer, r.key_id, r.model, r.price_version, placed[0], placed[1])
        acc = sums.setdefault(key, [0, 0, 0])
        acc[0] += 1
        acc[1] += r.prompt_tokens
        acc[2] += r.completion_tokens
    return sort_aggregates(UsageAggregate(*k, *v) for k, v in sums.items())


def aggregate_sql(
    window: Window,
    *,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    after_seq: int | None = None,
) -> Select[Any]:
    """The same aggregation as a SQLAlchemy Core SELECT over `usage_records`.

    `started_from`, `started_before` and `after_seq` restrict it to the records that started in
    [started_from, started_before) and have a seq above `after_seq`: a part of the aggregation,
    so a large period can be read in pieces (summing the parts' rows per key gives the whole).
    Only pass `after_seq` when no record the window takes can have a smaller seq (for late
    usage: the last seq at the previous close).

    Columns, in order: customer, key_id, model, price_version, segment, late, requests,
    prompt_tokens, completion_tokens. Turn each row into `UsageAggregate(*row)` (cast `late`
    with bool() on backends that return 0/1), then `sort_aggregates()`. Shape (SQLite)::

        SELECT customer, key_id, model, price_version, segment, late,
               count(*), sum(prompt_tokens), sum(completion_tokens)
        FROM (SELECT customer, key_id, model, price_version, prompt_tokens, completion_tokens,
                     CASE WHEN t < :cut1 THEN 0 WHEN t < :cut2 THEN 1 ... ELSE n END AS segment,
                     CASE WHEN started_at < :start THEN 1 ELSE 0 END AS late
              FROM usage_records  -- t: appended_at for late rows, else started_at
              WHERE outcome IN ('ok', 'client_disconnect')
                AND appended_at < :closed_at
                AND ((started_at >= :start AND started_at < :end)
                     OR (started_at < :start AND appended_at >= :late_after))) AS charged
        GROUP BY customer, key_id, model, price_version, segment, late
    """
    # Imported here: the settlement package must load without SQLAlchemy (a licensor's verifier).
    from sqlalchemy import and_, case, false, func, literal, or_, select

    from revshare.ledger.schema import usage_records as u

    start, end = window.period.start, window.period.end
    is_late = u.c.started_at < start
    when = case((is_late, u.c.appended_at), else_=u.c.started_at) if window.late_after else u.c.started_at
    segment: ColumnElement[Any]
    if window.cuts:
        segment = case(
            *[(when < cut, literal(i)) for i, cut in enumerate(window.cuts)], else_=literal(len(window.cuts))
        )
    else:
        segment = literal(0)
    # A part's started range is folded into each branch's own bounds (one range per branch), so
    # that SQLite searches its index over the part, not over the month and then filters.
    lo = start if started_from is None else max(start, started_from)
    hi = end if started_before is None else min(end, started_before)
    branches = [and_(u.c.started_at >= lo, u.c.started_at < hi)] if lo < hi else []
    if window.late_after is not None and (started_from is None or started_from < start):
        late_hi = start if started_before is None else min(start, started_before)
        late = [u.c.started_at < late_hi, u.c.appended_at >= window.late_after]
        if started_from is not None:
            late.append(u.c.started_at >= started_from)
        branches.append(and_(*late))
    taken = or_(*branches) if branches else false()
    conditions = [u.c.outcome.in_(CHARGED_OUTCOMES), taken]
    if window.closed_at is not None:
        conditions.append(u.c.appended_at < window.closed_at)
    if after_seq is not None:
        conditions.append(u.c.seq > after_seq)
    late_col = case((is_late, literal(True)), else_=false()) if window.late_after else false()
    # Segment and late are computed per row in a subquery and grouped by column, which every
    # backend accepts (PostgreSQL refuses to match a bound CASE in GROUP BY to the select list).
    rows = (
        select(
            u.c.customer, u.c.key_id, u.c.model, u.c.price_version,
            segment.label("segment"), late_col.label("late"), u.c.prompt_tokens, u.c.completion_tokens,
        )
        .where(and_(*conditions))
        .subquery("charged")
    )
    keys = (rows.c.customer, rows.c.key_id, rows.c.model, rows.c.price_version, rows.c.segment, rows.c.late)
    return select(
        *keys,
        func.count().label("requests"),
        func.sum(rows.c.prompt_tokens).label("prompt_tokens"),
        func.sum(rows.c.completion_tokens).label("completion_tokens"),
    ).group_by(*keys)

