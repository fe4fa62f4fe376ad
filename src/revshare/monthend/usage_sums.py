"""Usage sums: the GROUP BY over the ledger's `usage_records` that a close settles from.

`aggregate_sql(window)` is the SQL form of `revshare.settlement.aggregate()` (the Python
reference, over `UsageRecord`s); tests hold them equal. `read_aggregates` runs it on a ledger,
one day of the period at a time, and returns the `UsageAggregate`s that `settle()` takes.
Settlement itself stays pure: it never imports this module or the ledger's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, false, func, literal, or_, select
from sqlalchemy.exc import SQLAlchemyError

from revshare.ledger.schema import usage_records as u
from revshare.monthend.periods import SettlementLedgerError
from revshare.settlement.aggregate import CHARGED_OUTCOMES, UsageAggregate, merge_aggregates, sort_aggregates
from revshare.settlement.period import Window

if TYPE_CHECKING:
    from sqlalchemy.sql import ColumnElement, Select

    from revshare.ledger.store import Ledger

__all__ = ["Progress", "aggregate_sql", "aggregates_from_rows", "read_aggregates"]

Progress = Callable[[int, int], None]


def aggregate_sql(
    window: Window,
    *,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    after_seq: int | None = None,
) -> Select[Any]:
    """`revshare.settlement.aggregate()` as a SQLAlchemy Core SELECT over `usage_records`.

    `started_from`, `started_before` and `after_seq` restrict it to the records that started in
    [started_from, started_before) and have a seq above `after_seq`: a part of the aggregation,
    so a large period can be read in pieces (summing the parts' rows per key gives the whole).
    Only pass `after_seq` when no record the window takes can have a smaller seq (for late
    usage: the last seq at the previous close).

    Columns, in order: customer, key_id, model, price_version, segment, late, requests,
    prompt_tokens, completion_tokens; `aggregates_from_rows()` turns the rows into
    `UsageAggregate`s. Shape (SQLite)::

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


def aggregates_from_rows(rows: Iterable[Sequence[Any]]) -> tuple[UsageAggregate, ...]:
    """The rows of `aggregate_sql` (or of the same SQL run elsewhere) as `UsageAggregate`s, in
    canonical order. Casts what backends hand back differently: `late` as 0/1, sums as Decimal."""
    return sort_aggregates(UsageAggregate(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5]), int(r[6]), int(r[7]),
                                          int(r[8])) for r in rows)


def read_aggregates(
    ledger: Ledger,
    window: Window,
    *,
    late_after_seq: int | None = None,
    progress: Progress | None = None,
    workers: int = 2,
) -> tuple[UsageAggregate, ...]:
    """`aggregate_sql(window)` on the ledger, read one day of the period at a time.

    Each day's GROUP BY is small enough to sort in memory (SQLite has no hash aggregate, and
    one GROUP BY over a month of records spills its sort to disk); `workers` connections run
    days side by side (the drivers release the GIL while the database works); the pieces drive
    the progress bar. Late usage is one more piece, found by seq above `late_after_seq` (the
    last seq at the previous close) rather than by scanning every older record. The window
    only takes records appended before a past cut-off, which never change, so the pieces agree
    whatever snapshot each connection reads. `progress(done, total)` is called after each piece.
    """
    start, end = window.period.start, window.period.end
    parts: list[dict[str, Any]] = []
    day = start
    while day < end:
        parts.append({"started_from": day, "started_before": min(day + timedelta(days=1), end)})
        day += timedelta(days=1)
    if window.late_after is not None:
        parts.append({"started_before": start, "after_seq": late_after_seq})

    def run(part: dict[str, Any]) -> tuple[UsageAggregate, ...]:
        with ledger.engine.connect() as conn:
            return aggregates_from_rows(conn.execute(aggregate_sql(window, **part)))

    pieces: list[UsageAggregate] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for done, piece in enumerate(pool.map(run, parts), 1):
                pieces.extend(piece)
                if progress is not None:
                    progress(done, len(parts))
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(f"cannot read usage from the ledger at {ledger.safe_url}: {exc}") from exc
    return merge_aggregates(pieces)
