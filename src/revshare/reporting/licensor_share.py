"""What the licensors earn per UTC day, read from the daily rollups and priced by the settlement
itself, so that a month's days add up to its statements' `earned` to the cent.

A day's share is not settled on its own (each statement line is rounded once, and marginal tiers
depend on the month's running basis): it is the month's earnings up to the end of that day less
the earnings up to the end of the day before, each computed by `settlement.settle` over the
month's charged usage so far. The days of a month therefore telescope to what the close's
statement earns on the same usage. Late usage (of an earlier month, billed in this one) counts on
the month's first day. Credits are left out: they lower a net basis only at the close, on the
statement's adjustment lines; guarantees and their true-up are the close's too.

Each month's rows and its days' month-to-date earnings are kept (per ledger and catalog) as of
the fold they were read at: the next call re-reads only the days whose rows a fold has changed
since (`usage_daily_lines.changed_seq`), and settles again only from the first of them on; so a
reload of the overview after a fold of today's records settles today only.

    licensor_share(ledger, catalog, start=date(2026, 11, 1), end=date(2026, 11, 30)) -> Shares
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, literal, select

from revshare.ledger.store import Ledger
from revshare.reporting.schema import rollup_state, usage_daily, usage_daily_lines
from revshare.settlement.aggregate import CHARGED_OUTCOMES, UsageAggregate, sort_aggregates
from revshare.settlement.period import Period, Window, window_for
from revshare.settlement.settle import CatalogLike, settle

__all__ = ["DayShare", "Shares", "licensor_share"]

ZERO = Decimal(0)
Earned = dict[tuple[str, str], Decimal]  # per (licensor, currency)


@dataclass(frozen=True, slots=True)
class DayShare:
    day: date
    licensor: str
    currency: str
    share: Decimal  # exact, in the currency's minor unit (each statement line rounded once)


@dataclass(frozen=True, slots=True)
class Shares:
    days: tuple[DayShare, ...]  # per day, licensor and currency, oldest first; days without usage left out
    folded_seq: int

    def totals(self) -> list[tuple[str, str, Decimal]]:
        """(licensor, currency, the range's share), by licensor."""
        sums: dict[tuple[str, str], Decimal] = {}
        for d in self.days:
            sums[(d.licensor, d.currency)] = sums.get((d.licensor, d.currency), ZERO) + d.share
        return [(lic, cur, amount) for (lic, cur), amount in sorted(sums.items())]


@dataclass(frozen=True, slots=True)
class _Month:
    """One month as last read: its charged rows per day they started on (each with the day it
    is shown on), and per day shown the month-to-date earnings; as of `folded` or later."""
    folded: int
    rows: dict[Any, list[tuple[date, UsageAggregate]]]  # keyed by the rollup's day as the database returns it
    earned: dict[date, Earned]


_KEPT: weakref.WeakKeyDictionary[Ledger, dict[tuple[int, str], tuple[CatalogLike, _Month]]] = (
    weakref.WeakKeyDictionary())
_LOCK = threading.Lock()


def licensor_share(ledger: Ledger, catalog: CatalogLike, *, start: date, end: date) -> Shares:
    """Each licensor's share per UTC day of [start, end] (both included), from the daily rollups.

    Every month the range touches is read from its first day (a day's share depends on the
    month's usage before it): a month's charged rows grouped per day, customer, (key,) model and
    price version; a few thousand rows even at millions of records, and after the first call
    only the days changed since."""
    months: list[str] = []
    month, last_month = Period(start.year, start.month), Period(end.year, end.month)
    while month.start <= last_month.start:
        months.append(month.label)
        month = month.next()
    days: list[DayShare] = []
    with ledger.engine.connect() as conn:
        folded = int(conn.execute(select(rollup_state.c.folded_seq)).scalar_one())
        for label in months:
            before: Earned = {}
            earned = _month(conn, ledger, catalog, label, folded).earned
            for day in sorted(earned):
                now = earned[day]
                if start <= day <= end:
                    for licensor, currency in sorted(now.keys() | before.keys()):
                        share = now.get((licensor, currency), ZERO) - before.get((licensor, currency), ZERO)
                        if share or (licensor, currency) in now:
                            days.append(DayShare(day, licensor, currency, share))
                before = now
    days.sort(key=lambda s: (s.day, s.licensor, s.currency))
    return Shares(tuple(days), folded)


def _month(conn: Connection, ledger: Ledger, catalog: CatalogLike, label: str, folded: int) -> _Month:
    """The month as of `folded` (or later): kept, brought up to date, or read whole."""
    with _LOCK:
        got = _KEPT.setdefault(ledger, {}).get((id(catalog), label))
    kept = got[1] if got is not None and got[0] is catalog else None
    if kept is not None and kept.folded == folded:
        return kept
    # A key matters to the share only when a contract exempts keys: else one aggregate per customer
    # line (the invoice rounds per customer, model, direction and price version, never per key).
    by_key = any(c.exempt_keys for c in catalog.contracts)
    window = window_for(catalog.contracts, Period.parse(label))
    if kept is not None and not by_key:  # only the lines' summary records what changed when
        d = usage_daily_lines
        changed = list(conn.execute(select(d.c.day).where(d.c.billing_period == label, d.c.changed_seq > kept.folded)
                                    .distinct()).scalars())
        rows = {day: found for day, found in kept.rows.items() if day not in changed}
        for i in range(0, len(changed), 500):
            rows.update(_read(conn, label, window, by_key, changed[i:i + 500]))
        first = min((on for day in changed for on, _ in rows.get(day, [])), default=None)
        earned = kept.earned if first is None else _settle_from(catalog, window, rows, kept.earned, first)
        month = _Month(folded, rows, earned)
    else:
        rows = _read(conn, label, window, by_key, None)
        month = _Month(folded, rows, _settle_from(catalog, window, rows, {}, date.min))
    with _LOCK:
        kept_here = _KEPT.setdefault(ledger, {})
        for stale in [k for k, (other, _) in kept_here.items() if other is not catalog]:
            del kept_here[stale]  # a catalog reloaded: what its predecessor settled is of no more use
        kept_here[(id(catalog), label)] = (catalog, month)
    return month


def _read(conn: Connection, label: str, window: Window, by_key: bool,
          days: Sequence[Any] | None) -> dict[Any, list[tuple[date, UsageAggregate]]]:
    """The month's charged rows (of these days only, if given) per day they started on."""
    d = usage_daily if by_key else usage_daily_lines  # the lines' summary has no key: ~keys x fewer rows
    key_column = d.c.key_id if by_key else literal("").label("key_id")
    keys = (d.c.day, d.c.customer, d.c.model, d.c.price_version)
    query = (select(*keys, key_column, func.sum(d.c.requests), func.sum(d.c.prompt_tokens),
                    func.sum(d.c.completion_tokens))
             .where(d.c.billing_period == label, d.c.outcome.in_(CHARGED_OUTCOMES))
             .group_by(*keys, *([d.c.key_id] if by_key else [])))
    if days is not None:
        query = query.where(d.c.day.in_(days))
    rows: dict[Any, list[tuple[date, UsageAggregate]]] = {}
    placed: dict[Any, tuple[date, int, bool]] = {}  # day -> (shown on, segment, late)
    for day, customer, model, version, key_id, requests, prompt, completion in conn.execute(query):
        where = placed.get(day)
        if where is None:
            started = day if isinstance(day, datetime) else datetime.combine(day, datetime.min.time())
            started = started.replace(tzinfo=UTC) if started.tzinfo is None else started.astimezone(UTC)
            late = started < window.period.start  # late usage counts on the month's first day
            where = placed[day] = (window.period.start.date() if late else started.date(),
                                   0 if late else window.segment_of(started), late)
        on, segment, late = where
        rows.setdefault(day, []).append((on, UsageAggregate(customer, key_id, model, version, segment, late,
                                                            int(requests), int(prompt), int(completion))))
    return rows


def _settle_from(catalog: CatalogLike, window: Window, rows: dict[Any, list[tuple[date, UsageAggregate]]],
                 kept: dict[date, Earned], first: date) -> dict[date, Earned]:
    """Per day shown that has usage, the month-to-date earnings: kept before `first`, settled
    from it on (each day by `settlement.settle` over the month's usage up to its end)."""
    by_day: dict[date, list[UsageAggregate]] = {}
    for found in rows.values():
        for on, aggregate in found:
            by_day.setdefault(on, []).append(aggregate)
    earned = {day: e for day, e in kept.items() if day < first}
    running: dict[tuple[str, str, str, str, int, bool], list[int]] = {}
    for day in sorted(by_day):
        for a in by_day[day]:
            acc = running.setdefault(a.key, [0, 0, 0])
            acc[0] += a.requests
            acc[1] += a.prompt_tokens
            acc[2] += a.completion_tokens
        if day >= first:
            earned[day] = _earned(catalog, window, running)
    return earned


def _earned(catalog: CatalogLike, window: Window, running: dict[tuple[str, str, str, str, int, bool], list[int]]
            ) -> Earned:
    """What the window's statements earn on this usage, per (licensor, currency)."""
    result = settle(catalog, window, sort_aggregates(UsageAggregate(*k, *v) for k, v in running.items()))
    earned: Earned = {}
    for statement in result.statements:
        k = (statement.licensor, statement.currency)
        earned[k] = earned.get(k, ZERO) + statement.totals.earned
    return earned
