"""Keep the rollups (and their summaries, `schema.SUMMARIES`) up to date: fold the records after
`rollup_state.folded_seq`, in seq order.

Each fold is one transaction that takes the state row's lock first, adds the next records to
their groups (with the period whose close bills them) and moves `folded_seq`: a crash rolls all
of it back, and gateways folding at once wait for each other, so every record is counted exactly
once (seqs are gapless). It runs beside the request path, never in it (`serving.gateway`, every
`server.rollup_interval_s`).

The records are read and grouped first, outside the lock (`_group`): on SQLite the lock is the
database's one write lock, and every request's record waits while it is held (grouping 2,000
records under it stalled every request for 80-140 ms each fold; docs/BENCHMARKS.md). Under the
lock `folded_seq` and the closes are read again; if either moved meanwhile (another gateway
folded, a period closed), the records are grouped again there. Committed records never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, and_, bindparam, select, update

from revshare.instants import as_utc
from revshare.ledger.schema import usage_records as u
from revshare.ledger.store import Ledger
from revshare.monthend.schema import settlement_periods
from revshare.reporting.rollup import Group, Totals, by_day, fold, from_pico, project, to_pico
from revshare.reporting.schema import SUMMARIES, TOTAL_COLUMNS, group_columns, rollup_state

__all__ = ["FOLD_BATCH", "fold_new_records", "folded_seq"]

FOLD_BATCH = 5000

_COLUMNS = (u.c.seq, u.c.started_at, u.c.customer, u.c.key_id, u.c.model, u.c.price_version, u.c.outcome,
            u.c.currency, u.c.prompt_tokens, u.c.completion_tokens, u.c.cached_tokens, u.c.amount)


def folded_seq(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(rollup_state.c.folded_seq).where(rollup_state.c.id == 1)).scalar_one())


def fold_new_records(ledger: Ledger, batch: int = FOLD_BATCH) -> int:
    """Fold at most `batch` records past the state's seq; return how many were folded."""
    with ledger.engine.connect() as conn:
        grouped = _group(conn, _folded(conn), batch)
    with ledger.engine.begin() as conn:
        conn.execute(update(rollup_state).where(rollup_state.c.id == 1)
                     .values(folded_seq=rollup_state.c.folded_seq))  # the lock, before the read
        done = _folded(conn)
        if grouped.done != done or grouped.closes != _closes(conn):
            grouped = _group(conn, done, batch)
        if not grouped.count:
            return 0
        for grain, groups in (("hour", grouped.hourly), ("day", grouped.daily)):
            for table in SUMMARIES[grain]:
                _merge(conn, table, groups, grouped.last_seq)
        conn.execute(update(rollup_state).where(rollup_state.c.id == 1).values(folded_seq=grouped.last_seq))
        return grouped.count


@dataclass(frozen=True, slots=True)
class _Grouped:
    """The records after `done`, up to `last_seq`, grouped by hour and by day under `closes`."""

    done: int
    closes: dict[str, int]
    count: int
    last_seq: int
    hourly: dict[Group, Totals]
    daily: dict[Group, Totals]


def _folded(conn: Connection) -> int:
    return int(conn.execute(select(rollup_state.c.folded_seq).where(rollup_state.c.id == 1)).scalar_one())


def _closes(conn: Connection) -> dict[str, int]:
    return {str(p): int(last) for p, last in conn.execute(
        select(settlement_periods.c.period, settlement_periods.c.last_seq))}


def _group(conn: Connection, done: int, batch: int) -> _Grouped:
    closes = _closes(conn)
    rows = conn.execute(select(*_COLUMNS).where(u.c.seq > done).order_by(u.c.seq).limit(batch)).all()
    if rows and rows[-1].seq != done + len(rows):
        raise RuntimeError(f"usage_records has a gap after seq {done}: the rollups stop there")
    hourly = fold((_record(row) for row in rows), closes)
    return _Grouped(done, closes, len(rows), rows[-1].seq if rows else done, hourly, by_day(hourly))


class _Record(NamedTuple):
    seq: int
    started_at: datetime
    customer: str
    key_id: str
    model: str
    price_version: str
    outcome: str
    currency: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    amount: str


def _record(row: Any) -> _Record:
    """A row as fold() reads it, its start in UTC (SQLite returns naive datetimes)."""
    seq, started_at, *rest = row
    return _Record(seq, as_utc(started_at), *rest)


def _merge(conn: Connection, table: Table, groups: dict[Group, Totals], seq: int) -> None:
    """Add each group's totals (summed over the columns `table` leaves out) to its row in `table`:
    one read of the rows of the hours (days) involved, then one executemany for new rows and one
    for changed ones; a table that keeps `changed_seq` gets `seq` (the fold's last) on both."""
    columns = group_columns(table)
    mark = {"changed_seq": seq} if "changed_seq" in table.c else {}
    when = table.c[table.primary_key.columns.keys()[0]]  # hour, or day
    summed = project(groups, columns)
    stored: dict[tuple[Any, ...], Totals] = {}
    starts = sorted({key[0] for key in summed})
    for i in range(0, len(starts), 500):
        for row in conn.execute(select(table).where(when.in_(starts[i:i + 500]))):
            key = (as_utc(row[0]), *(getattr(row, name) for name in columns))
            if key in summed:
                stored[key] = Totals(row.requests, row.prompt_tokens, row.completion_tokens, row.cached_tokens,
                                     from_pico(row.amount_units, row.amount_pico))
    new = [{when.name: key[0], **dict(zip(columns, key[1:], strict=True)), **_values(t), **mark}
           for key, t in summed.items() if key not in stored]
    changed = [{"k_start": key[0], **{f"k_{c}": v for c, v in zip(columns, key[1:], strict=True)},
                **_values(stored[key] + t), **mark} for key, t in summed.items() if key in stored]
    if new:
        conn.execute(table.insert(), new)
    if changed:
        match = and_(when == bindparam("k_start"), *(table.c[name] == bindparam(f"k_{name}") for name in columns))
        conn.execute(update(table).where(match).values({name: bindparam(name) for name in (*TOTAL_COLUMNS, *mark)}),
                     changed)


def _values(totals: Totals) -> dict[str, object]:
    units, pico = to_pico(totals.amount)
    return {"requests": totals.requests, "prompt_tokens": totals.prompt_tokens,
            "completion_tokens": totals.completion_tokens, "cached_tokens": totals.cached_tokens,
            "amount_units": units, "amount_pico": pico}
