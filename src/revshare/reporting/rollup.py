"""The pure part of a rollup: records grouped by UTC hour and what they are billed under, and
totals that add exactly (integers, and Decimal amounts: never a float)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

__all__ = ["Group", "Totals", "fold", "hour_of"]


class Group(NamedTuple):
    hour: datetime
    customer: str
    key_id: str
    model: str
    price_version: str
    outcome: str
    currency: str


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


def fold(rows: Iterable[Any]) -> dict[Group, Totals]:
    """Rows with the usage record's columns (started_at, customer, key_id, model, price_version,
    outcome, currency, prompt_tokens, completion_tokens, cached_tokens, amount as text) summed
    per group."""
    groups: dict[Group, Totals] = {}
    for r in rows:
        group = Group(hour_of(r.started_at), r.customer, r.key_id, r.model, r.price_version, r.outcome, r.currency)
        one = Totals(1, r.prompt_tokens, r.completion_tokens, r.cached_tokens, Decimal(r.amount))
        before = groups.get(group)
        groups[group] = one if before is None else before + one
    return groups
