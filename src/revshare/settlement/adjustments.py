"""Credits, refunds and discounts: dated adjustments, allocated to models by largest remainder.

A closed period never changes. A credit, refund or discount granted after usage was billed is a
dated adjustment of the period that is open when it is granted. For a contract on a `net` basis
it lowers the basis; on a `gross` basis (or a per-token royalty) it does not appear on the statement.

Allocation: the adjustment's amount is split over the customer's rated usage in the period
being closed (cells in the adjustment's currency, restricted to `model` when the adjustment
names one), grouped by (model, key), in proportion to their invoiced amounts, by largest
remainder, so the pieces sum exactly to the adjustment. With no such usage, an adjustment
that names a model lands whole on that model (key ""); one that names none stays with the host
and a warning says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from revshare.settlement.errors import SettlementError
from revshare.settlement.period import Window
from revshare.settlement.rating import Cell
from revshare.settlement.rounding import allocate, places_of

__all__ = ["Credit", "CreditPiece", "allocate_credits"]


@dataclass(frozen=True, slots=True, order=True)
class Credit:
    """Money given back to a customer after its usage was rated.

    Attributes:
      id: a stable id, shown on invoices and statements.
      customer: the catalog customer.
      amount: positive, on the currency's minor-unit grid.
      date: when it was granted (UTC); it places the adjustment in a segment of the period.
      reason: free text, shown on invoice and statement.
      kind: "credit", "refund" or "discount"; all three lower a net basis.
      model: the model it concerns, if known; it then only allocates to that model.
      refers_to: the period (YYYY-MM) it corrects, if any; informational.
    """

    id: str
    customer: str
    amount: Decimal
    currency: str
    date: datetime
    reason: str
    kind: Literal["credit", "refund", "discount"] = "credit"
    model: str | None = None
    refers_to: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class CreditPiece:
    """The part of a credit that lands on one (model, key); model None: not allocated."""

    credit_id: str
    model: str | None
    key_id: str
    segment: int
    amount: Decimal


def allocate_credits(
    credits: Iterable[Credit], cells: Sequence[Cell], window: Window
) -> tuple[tuple[CreditPiece, ...], list[SettlementError]]:
    pieces: list[CreditPiece] = []
    errors: list[SettlementError] = []
    for credit in sorted(credits):
        places = places_of(credit.currency)
        if credit.amount <= 0 or credit.amount != credit.amount.quantize(Decimal(1).scaleb(-places)):
            errors.append(
                SettlementError(
                    "credit-amount",
                    f"credit {credit.id!r}: amount {credit.amount} must be positive with at most "
                    f"{places} decimal places ({credit.currency}); it is left out",
                )
            )
            continue
        segment = window.segment_of(credit.date)
        weights: dict[tuple[str, str], Decimal] = {}
        for c in cells:
            mine = c.customer == credit.customer and c.currency == credit.currency
            if mine and (credit.model is None or c.model == credit.model):
                key = (c.model, c.key_id)
                weights[key] = weights.get(key, Decimal(0)) + c.amount
        keys = sorted(k for k, w in weights.items() if w)
        if keys:
            parts = allocate(credit.amount, [weights[k] for k in keys], places)
            pieces.extend(
                CreditPiece(credit.id, m, key_id, segment, part)
                for (m, key_id), part in zip(keys, parts, strict=True)
            )
        elif credit.model is not None:
            pieces.append(CreditPiece(credit.id, credit.model, "", segment, credit.amount))
        else:
            pieces.append(CreditPiece(credit.id, None, "", segment, credit.amount))
            errors.append(
                SettlementError(
                    "credit-unallocated",
                    f"credit {credit.id!r} of customer {credit.customer!r} names no model and the "
                    "customer has no usage this period: no licensor's basis is lowered by it",
                    level="warning",
                )
            )
    return tuple(sorted(pieces)), errors
