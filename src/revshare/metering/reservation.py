"""What a request reserves before it runs and settles when it ends: values, no I/O.

A request writes an `Intent` (its most cost reserved against each budget, an idempotency claim)
before its engine runs; its record's transaction carries a `Final` that settles the reservation to
the actual charge. The ledger writes both (`revshare.ledger.reservations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

__all__ = ["UNITS", "BudgetRow", "Final", "IdemClaim", "IdemDone", "Intent", "IntentResult", "to_units"]

UNITS = Decimal(10) ** 9  # budget counters count nano-units of the price currency


def to_units(amount: Decimal) -> int:
    """An amount in budget units, rounded up (a reservation or a charge is never understated)."""
    return int((amount * UNITS).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class BudgetRow:
    scope: str
    period: str
    limit: int  # units


@dataclass(frozen=True, slots=True)
class IdemClaim:
    customer: str
    key: str
    body_hash: str


@dataclass(frozen=True, slots=True)
class Intent:
    """What a request writes before its engine runs."""

    record_id: str
    instance: str
    units: int
    budgets: tuple[BudgetRow, ...]
    request: dict[str, Any]
    idempotency: IdemClaim | None = None


@dataclass(frozen=True, slots=True)
class IntentResult:
    ok: bool
    refused_by: str = ""  # the budget scope that could not cover it, or "idempotency"


@dataclass(frozen=True, slots=True)
class IdemDone:
    """The end of an idempotent request: its stored response, or None to release the key."""

    customer: str
    key: str
    status: int | None
    response: str | None


@dataclass(frozen=True, slots=True)
class Final:
    """What a record's transaction settles besides appending it."""

    record_id: str
    reserved: int
    charged: int
    budgets: tuple[tuple[str, str], ...]
    idempotency: IdemDone | None = None
