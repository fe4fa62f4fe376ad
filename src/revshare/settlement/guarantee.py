"""Minimum guarantees: the true-up when a period earns less, and recoupment when it earns more.

For a period with guarantee G (prorated by the time each version is in force) and earnings E:

- true_up = max(0, G - E): paid so the licensor gets at least G;
- recouped = min(balance, max(0, E - G)): a recoupable guarantee's past true-ups are won back
  only from earnings above the guarantee, never pushing a payment below G;
- amount_due = E + true_up - recouped;
- balance_after = balance + true_up (when recoupable) - recouped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["GuaranteeOutcome", "apply_guarantee"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class GuaranteeOutcome:
    minimum_guarantee: Decimal
    true_up: Decimal
    recouped: Decimal
    amount_due: Decimal
    balance_after: Decimal


def apply_guarantee(earned: Decimal, guarantee: Decimal, recoupable: bool, balance: Decimal) -> GuaranteeOutcome:
    true_up = max(ZERO, guarantee - earned)
    recouped = min(balance, max(ZERO, earned - guarantee)) if balance > 0 else ZERO
    balance_after = balance + (true_up if recoupable else ZERO) - recouped
    return GuaranteeOutcome(guarantee, true_up, recouped, earned + true_up - recouped, balance_after)
