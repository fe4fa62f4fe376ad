"""Customer invoices: usage lines per model, direction and price version, then credits.

Each line says what it bills (`model_kind`, the model's kind: chat or embedding; `settlement.kinds`).

Each usage line is one rounding (half-even, the currency's minor unit) of tokens x unit price
/ 1e6; late usage from a closed period gets its own lines. Credits, refunds and discounts
granted since the last close are subtracted; a negative total is a credit note.

In the JSON every amount is at the currency's minor unit (`rounding.amount_text`); the unit
price per million tokens is padded to it and keeps any further decimals (prices have up to 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from revshare.instants import format_instant
from revshare.settlement.adjustments import Credit
from revshare.settlement.kinds import CHAT
from revshare.settlement.rating import Cell
from revshare.settlement.rounding import amount_text, places_of

__all__ = ["Invoice", "InvoiceCredit", "InvoiceLine", "build_invoices"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, order=True)
class InvoiceLine:
    """Attributes: tokens of `direction`; unit_price per 1M tokens; amount rounded once;
    model_kind: what the line bills, the model's kind, "chat" or "embedding" (`settlement.kinds`)."""

    model: str
    direction: str
    price_version: str
    late: bool
    requests: int
    tokens: int
    unit_price: Decimal
    amount: Decimal
    model_kind: str = CHAT

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit."""
        return {"model": self.model, "model_kind": self.model_kind, "direction": self.direction,
                "price_version": self.price_version,
                "late": self.late, "requests": self.requests, "tokens": self.tokens,
                "unit_price_per_million": amount_text(self.unit_price, places),
                "amount": amount_text(self.amount, places)}


@dataclass(frozen=True, slots=True, order=True)
class InvoiceCredit:
    id: str
    kind: str
    date: str
    reason: str
    amount: Decimal

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit."""
        return {"id": self.id, "kind": self.kind, "date": self.date, "reason": self.reason,
                "amount": amount_text(self.amount, places)}


@dataclass(frozen=True, slots=True)
class Invoice:
    """One customer's bill for one period in one currency.

    Attributes:
      number: "<period>/<customer>/<currency>", stable across re-runs.
      subtotal: sum of lines; credits_total: sum of credits; total_due = subtotal - credits_total.
      cutoff: the close's cut-off, as on the statements (None: settled without a close);
        `closed_early`: it came before the month ended.
    """

    host: str
    customer: str
    period: str
    period_start: datetime
    period_end: datetime
    currency: str
    number: str
    lines: tuple[InvoiceLine, ...]
    credits: tuple[InvoiceCredit, ...]
    subtotal: Decimal
    credits_total: Decimal
    total_due: Decimal
    cutoff: datetime | None = None

    @property
    def closed_early(self) -> bool:
        return self.cutoff is not None and self.cutoff < self.period_end

    def to_json(self) -> dict[str, Any]:
        places = places_of(self.currency)
        return {
            "type": "revshare.invoice/v1", "host": self.host, "customer": self.customer,
            "period": self.period, "period_start": format_instant(self.period_start),
            "period_end": format_instant(self.period_end),
            "cutoff": None if self.cutoff is None else format_instant(self.cutoff),
            "closed_early": self.closed_early,
            "currency": self.currency, "number": self.number,
            "lines": [x.to_json(places) for x in self.lines], "credits": [c.to_json(places) for c in self.credits],
            "subtotal": amount_text(self.subtotal, places), "credits_total": amount_text(self.credits_total, places),
            "total_due": amount_text(self.total_due, places),
        }


def build_invoices(
    host: str, period: str, start: datetime, end: datetime, cells: Sequence[Cell], credits: Iterable[Credit],
    cutoff: datetime | None = None, kinds: Mapping[str, str] | None = None,
) -> tuple[Invoice, ...]:
    """One invoice per customer and currency; `kinds`: model id -> kind, each line's `model_kind`."""
    kind_of = kinds or {}
    lines: dict[tuple[str, str], dict[tuple[str, str, str, bool], list[Any]]] = {}
    for c in cells:
        acc = lines.setdefault((c.customer, c.currency), {}).setdefault(
            (c.model, c.direction, c.price_version, c.late), [0, 0, c.unit_price, ZERO])
        acc[0] += c.requests
        acc[1] += c.tokens
        acc[3] += c.amount
    applied: dict[tuple[str, str], list[InvoiceCredit]] = {}
    for cr in sorted(credits):
        applied.setdefault((cr.customer, cr.currency), []).append(
            InvoiceCredit(cr.id, cr.kind, format_instant(cr.date), cr.reason, cr.amount))
    invoices = []
    for customer, currency in sorted(set(lines) | set(applied)):
        rows = tuple(InvoiceLine(m, d, v, late, a[0], a[1], a[2], a[3], kind_of.get(m, CHAT))
                     for (m, d, v, late), a in sorted(lines.get((customer, currency), {}).items()))
        given = tuple(applied.get((customer, currency), ()))
        subtotal = sum((r.amount for r in rows), ZERO)
        credited = sum((c.amount for c in given), ZERO)
        invoices.append(Invoice(host, customer, period, start, end, currency, f"{period}/{customer}/{currency}",
                                rows, given, subtotal, credited, subtotal - credited, cutoff))
    return tuple(invoices)
