"""What a request reserves before it runs and settles when it ends: values, no I/O.

A request writes an `Intent` (its most cost reserved against each budget, an idempotency claim)
before its engine runs; its record's transaction carries a `Final` that settles the reservation to
the actual charge. The ledger writes both (`revshare.ledger.reservations`), and decides each
reservation with `cover`, on the budget row it has locked:

    spent + reserved + units <= limit   FITS       reserve it and run
    spent + units <= limit              IN_FLIGHT  only requests still running stand in the way: 429, retry
    otherwise                           EXCEEDED   even with nothing in flight it cannot be covered: 402
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

__all__ = ["IN_FLIGHT_RETRY_AFTER_S", "UNITS", "BudgetRow", "Cover", "Final", "IdemClaim", "IdemDone", "Intent",
           "IntentResult", "cover", "to_units"]

UNITS = Decimal(10) ** 9  # budget counters count nano-units of the price currency

# Retry-After of a request refused because requests in flight hold the budget. Nothing says when
# those will end (a stream may last minutes), so the client is asked to retry soon, as for the
# gateway's other short waits (409 idempotency_key_in_use, 503 ledger_unavailable), not told a guess.
IN_FLIGHT_RETRY_AFTER_S = 1


def to_units(amount: Decimal) -> int:
    """An amount in budget units, rounded up (a reservation or a charge is never understated)."""
    return int((amount * UNITS).to_integral_value(rounding=ROUND_CEILING))


class Cover(StrEnum):
    """Whether a budget row can take a request's reservation now."""

    FITS = "fits"
    IN_FLIGHT = "in_flight"  # it could with nothing in flight: the reservations of running requests block it
    EXCEEDED = "exceeded"  # spent + units > limit: no amount of waiting helps


def cover(spent: int, reserved: int, units: int, limit: int) -> Cover:
    """Decide a reservation of `units` on a budget row holding `spent` and `reserved` (all in units).

    The ledger calls it on the values of a row it holds locked until its transaction commits, so
    the decision and the reservation are one atomic step. A request in flight never spends more
    than it reserved, so IN_FLIGHT may later become FITS (what they did not spend is released) or
    EXCEEDED (what they spent leaves too little); it never becomes an overrun.
    """
    if spent + reserved + units <= limit:
        return Cover.FITS
    if spent + units <= limit:
        return Cover.IN_FLIGHT
    return Cover.EXCEEDED


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
    """What the ledger answered an intent. Refused by a budget, `in_flight` is true when only the
    reservations of requests still running stood in the way (every budget of the request could
    cover it with nothing in flight): a retry may succeed."""

    ok: bool
    refused_by: str = ""  # the budget scope that could not cover it, or "idempotency"
    in_flight: bool = False


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
