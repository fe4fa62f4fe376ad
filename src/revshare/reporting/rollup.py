"""The pure part of a rollup: records grouped by UTC hour, what they are billed under and the
period whose close bills them, and totals that add exactly (integers, Decimal amounts: never a
float)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from revshare.settlement.period import Period

__all__ = ["PICO", "Group", "Totals", "billing_period", "by_day", "fold", "from_pico", "hour_of", "project", "to_pico"]


class Group(NamedTuple):
    start: datetime  # of the UTC hour (or day) the requests started in
    customer: str
    key_id: str
    model: str
    price_version: str
    outcome: str
    currency: str
    billing_period: str


@dataclass(frozen=True, slots=True)
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    amount: Decimal = Decimal(0)

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.requests + other.requests, self.prompt_tokens + other.prompt_tokens,
                      self.completion_tokens + other.completion_tokens, self.cached_tokens + other.cached_tokens,
                      self.amount + other.amount)


def hour_of(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def by_day(groups: Mapping[Group, Totals]) -> dict[Group, Totals]:
    """Hourly groups summed per UTC day."""
    days: dict[Group, Totals] = {}
    for group, totals in groups.items():
        day = group._replace(start=group.start.replace(hour=0))
        before = days.get(day)
        days[day] = totals if before is None else before + totals
    return days


def project(groups: Mapping[Group, Totals], columns: Sequence[str]) -> dict[tuple[Any, ...], Totals]:
    """Groups summed over every column but `columns`: keyed by (start, *those columns' values)."""
    out: dict[tuple[Any, ...], Totals] = {}
    for group, totals in groups.items():
        key = (group.start, *(getattr(group, name) for name in columns))
        before = out.get(key)
        out[key] = totals if before is None else before + totals
    return out


PICO = 10**12


def to_pico(amount: Decimal) -> tuple[int, int]:
    """An amount of at most 12 decimal places as (whole units, picounits in [0, 10^12))."""
    scaled = amount.scaleb(12)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 12 decimal places")
    return divmod(int(scaled), PICO)


def from_pico(units: int, pico: int) -> Decimal:
    """The exact amount of `units` whole units and `pico` picounits (either sum may exceed a unit)."""
    return Decimal(units) + Decimal(pico).scaleb(-12)


def billing_period(started_month: str, seq: int, closes: Mapping[str, int]) -> str:
    """The month whose close bills a record (`closes`: each closed month's last seq).

    A record is its start's month's, unless it was appended after that month closed (its seq
    past the close's last seq; or its month was never closed and a later one was): then it is
    late usage of the first close after it was appended, or of the next month to close. The
    same rule as the close (`monthend.periods`), read from seqs instead of times."""
    closed_last = closes.get(started_month)
    if closed_last is not None and seq <= closed_last:
        return started_month
    first_closed = min(closes) if closes else None
    if closed_last is None and (first_closed is None or started_month > first_closed):
        return started_month  # its month is still open
    for month in sorted(closes):
        if month > started_month and seq <= closes[month]:
            return month
    return Period.parse(max(closes)).next().label


def fold(rows: Iterable[Any], closes: Mapping[str, int] | None = None) -> dict[Group, Totals]:
    """Rows with the usage record's columns (seq, started_at, customer, key_id, model, price_version,
    outcome, currency, prompt_tokens, completion_tokens, cached_tokens, amount as text) summed per
    group; `closes` maps each closed month to its last seq (none: every month still open)."""
    closes = closes or {}
    groups: dict[Group, Totals] = {}
    for r in rows:
        month = f"{r.started_at.year:04d}-{r.started_at.month:02d}"
        group = Group(hour_of(r.started_at), r.customer, r.key_id, r.model, r.price_version, r.outcome, r.currency,
                      billing_period(month, r.seq, closes))
        one = Totals(1, r.prompt_tokens, r.completion_tokens, r.cached_tokens, Decimal(r.amount))
        before = groups.get(group)
        groups[group] = one if before is None else before + one
    return groups
