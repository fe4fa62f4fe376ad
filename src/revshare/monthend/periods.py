"""Closing periods: the ledger side of "a closed period never changes".

`close_period` freezes a month. Its cut-off is taken while holding the ledger's seq counter (the
row every append locks first), so each record is on one side of it for good: appended before the
cut-off (its seq <= `last_seq`), it belongs to this close; after, it is late usage of the next
close. Closes go in order, one month after the other; a month that has not ended can only be
closed `early` (up to now), which keeps that promise: its later records become late usage of the
next month.

Credits live in `monthend/credits.py`, settling a closed period in `monthend/settle_run.py`.
Refusals raise `SettlementLedgerError` with a message for the operator; the CLI prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from revshare.instants import as_utc, format_instant, utc_now
from revshare.ledger.schema import ledger_state, usage_records
from revshare.monthend.schema import (
    settlement_periods,
    settlement_states,
)
from revshare.records.record import Outcome
from revshare.settlement import (
    Period,
)

if TYPE_CHECKING:
    from revshare.ledger.store import Ledger

__all__ = [
    "ClosedPeriod",
    "SettlementLedgerError",
    "close_period",
    "closed_period",
    "closed_periods",
    "next_open_period",
]

CHARGED = tuple(o.value for o in Outcome if o.charged)


class SettlementLedgerError(Exception):
    """A close, credit or settle that was refused; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    """A closed period as stored in `settlement_periods`.

    Attributes:
      period: the month. closed_at: when the close ran; cutoff: records appended before it
        belong to this close (the same instant, taken under the seq counter's lock).
      late_after: the previous close's cut-off (None for the first close): records of earlier
        months appended since then are late usage of this close; credits granted since then too.
      last_seq: the ledger's last seq at the cut-off. early: closed before the month ended.
      closed_by, note: who closed it and why. settled_at: when it was first settled, if it was.
    """

    period: Period
    closed_at: datetime
    cutoff: datetime
    late_after: datetime | None
    last_seq: int
    early: bool
    closed_by: str
    note: str
    settled_at: datetime | None = None



def lock_counter(conn: Connection) -> int:
    """Take the row lock every append takes first; return the last seq handed out.

    On PostgreSQL this waits for appends in flight and holds them off until commit; on SQLite
    it starts the write transaction, which does the same for the whole database. Anything
    appended after this transaction commits gets a later `appended_at` and a larger seq.
    """
    next_seq = conn.execute(
        update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(next_seq=ledger_state.c.next_seq)
        .returning(ledger_state.c.next_seq)
    ).scalar_one()
    return int(next_seq) - 1


def _closed(row: Any) -> ClosedPeriod:
    m = row._mapping
    settled = m.get("settled_at")
    return ClosedPeriod(
        Period.parse(m["period"]), as_utc(m["closed_at"]), as_utc(m["cutoff"]),
        as_utc(m["late_after"]) if m["late_after"] is not None else None, int(m["last_seq"]), bool(m["early"]),
        m["closed_by"], m["note"], as_utc(settled) if settled is not None else None,
    )


def _periods_query() -> Any:
    p, s = settlement_periods, settlement_states
    return select(p, s.c.settled_at).select_from(p.outerjoin(s, s.c.period == p.c.period)).order_by(p.c.period)


def closed_periods(ledger: Ledger) -> list[ClosedPeriod]:
    """Every closed period, oldest first."""
    with ledger.engine.connect() as conn:
        return [_closed(r) for r in conn.execute(_periods_query())]


def closed_period(ledger: Ledger, period: Period) -> ClosedPeriod | None:
    with ledger.engine.connect() as conn:
        row = conn.execute(_periods_query().where(settlement_periods.c.period == period.label)).first()
    return _closed(row) if row is not None else None


def next_open_period(ledger: Ledger) -> Period | None:
    """The month after the last closed one; None when nothing was ever closed."""
    with ledger.engine.connect() as conn:
        last = conn.execute(select(func.max(settlement_periods.c.period))).scalar_one_or_none()
    return Period.parse(last).next() if last else None


# close -----------------------------------------------------------------------------------


def close_period(
    ledger: Ledger, period: Period, *, closed_by: str, early: bool = False, note: str = ""
) -> ClosedPeriod:
    """Freeze `period`: from now on the records and credits it settles can never change.

    Refused when the period is already closed, is not the month after the last closed one,
    has not ended (unless `early`: then only the current month, up to now), or, for the first
    close, when the ledger holds charged usage of earlier months (it would never be settled).
    """
    now = utc_now()
    if period.start > now:
        starts = format_instant(period.start, "seconds")
        raise SettlementLedgerError(f"period {period.label} has not started yet (it starts {starts})")
    if period.end > now and not early:
        raise SettlementLedgerError(
            f"period {period.label} has not ended (it ends {format_instant(period.end, 'seconds')}). To close it "
            "now, up to this "
            "instant, pass --early: its records appended later become late usage of the next period")
    try:
        with ledger.engine.begin() as conn:
            last_seq = lock_counter(conn)
            cutoff = utc_now()  # after the lock: every committed record was appended before it
            existing = conn.execute(
                select(settlement_periods).where(settlement_periods.c.period == period.label)).first()
            if existing is not None:
                c = _closed(existing)
                raise SettlementLedgerError(
                    f"period {period.label} is already closed (at {format_instant(c.closed_at, 'seconds')} "
                    f"by {c.closed_by}); a closed "
                    "period never changes: late records, credits and refunds land in the next period")
            previous = conn.execute(
                select(settlement_periods).order_by(settlement_periods.c.period.desc()).limit(1)).first()
            late_after: datetime | None = None
            if previous is not None:
                last = _closed(previous)
                if period != last.period.next():
                    want = last.period.next().label
                    raise SettlementLedgerError(
                        f"periods close in order: the last closed period is {last.period.label}, so the next one "
                        f"to close is {want}, not {period.label}")
                late_after = last.cutoff
            else:
                first = conn.execute(
                    select(func.min(usage_records.c.started_at))
                    .where(usage_records.c.started_at < period.start, usage_records.c.outcome.in_(CHARGED))
                ).scalar_one_or_none()
                if first is not None:
                    earliest = Period.containing(as_utc(first)).label
                    raise SettlementLedgerError(
                        f"the ledger has charged usage from {earliest}, before {period.label}: close periods in "
                        f"order starting with {earliest}, or that usage would never be settled")
            row = {"period": period.label, "closed_at": cutoff, "cutoff": cutoff, "late_after": late_after,
                   "last_seq": last_seq, "early": period.end > cutoff, "closed_by": closed_by, "note": note}
            conn.execute(settlement_periods.insert().values(**row))
    except IntegrityError:
        raise SettlementLedgerError(f"period {period.label} was closed at the same moment by another process") from None
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(f"cannot close {period.label} in the ledger at {ledger.safe_url}: {exc}") from exc
    return ClosedPeriod(period, cutoff, cutoff, late_after, last_seq, period.end > cutoff, closed_by, note)
