"""How much of a budget the current period has used, as admission counts it.

The budget counters (`budgets`, in nano-units) are what admission checks a request against:
spent plus what requests in flight have reserved, each request rounded up. They are a bound,
not the bill: an invoice sums the records' exact amounts. The console says so beside the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import select

from revshare.config.sections import Limits
from revshare.ledger.admission_schema import budgets
from revshare.ledger.store import Ledger
from revshare.metering.bound import budget_period
from revshare.metering.reservation import UNITS

__all__ = ["BudgetUse", "budget_use"]

_SHOWN = Decimal("0.000001")
_PERIOD = {"month": "this month", "day": "today", "total": "in total"}


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """Attributes: budget, used (spent and reserved, rounded up to 6 places), left, and the
    period's key and words (`2026-11`, "this month")."""

    budget: Decimal
    used: Decimal
    left: Decimal
    period: str
    words: str


def budget_use(ledger: Ledger, scope: str, limits: Limits) -> BudgetUse | None:
    """The budget of `scope` (`customer:<name>` or `key:<key id>`) in its current period, or None
    when it has no budget."""
    if limits.budget is None:
        return None
    period = budget_period(limits.budget_period)
    with ledger.engine.connect() as conn:
        row = conn.execute(select(budgets.c.spent, budgets.c.reserved).where(
            budgets.c.scope == scope, budgets.c.period == period)).first()
    units = 0 if row is None else int(row.spent) + int(row.reserved)
    used = _shown(Decimal(units) / UNITS)
    return BudgetUse(limits.budget, used, _shown(max(Decimal(0), limits.budget - used)), period,
                     _PERIOD[limits.budget_period])


def _shown(amount: Decimal) -> Decimal:
    """Rounded up to 6 places, with at least 2 (0.00, 12.50, 0.000123)."""
    amount = amount.quantize(_SHOWN, rounding=ROUND_CEILING).normalize()
    exponent = amount.as_tuple().exponent
    return amount.quantize(Decimal("0.01")) if isinstance(exponent, int) and exponent > -2 else amount
