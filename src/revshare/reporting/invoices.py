"""What each customer's invoice for a period comes to, read from the rollups: the figure a console
shows before and after the close, equal to the settled invoice to the cent.

It follows the invoice's own rules (`settlement.invoice`): charged usage billed in the period
(late usage included, on lines of its own), one line per model, direction and price version,
each rounded once (half-even, the currency's minor unit), then the credits the period's close
takes. `unit_prices` maps a price version to its (input, output) price per million tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, and_, case, func, select

from revshare.ledger.store import Ledger
from revshare.monthend.schema import settlement_credits, settlement_periods
from revshare.reporting.schema import rollup_state, usage_daily_lines
from revshare.settlement.period import Period
from revshare.settlement.rounding import places_of, round_half_even

__all__ = ["InvoiceFigures", "invoice_figures"]

ZERO = Decimal(0)
MILLION = Decimal(1_000_000)
_CHARGED = ("ok", "client_disconnect")


@dataclass(frozen=True, slots=True)
class InvoiceFigures:
    customer: str
    currency: str
    requests: int
    subtotal: Decimal
    credits: Decimal

    @property
    def total_due(self) -> Decimal:
        return self.subtotal - self.credits


def invoice_figures(ledger: Ledger, period: str,
                    unit_prices: Callable[[str], tuple[Decimal, Decimal]]) -> tuple[tuple[InvoiceFigures, ...], int]:
    """Per (customer, currency), the period's invoice figures; and the seq the rollups hold up to."""
    first_day = Period.parse(period).start  # a month, or ValueError
    d = usage_daily_lines  # one row per invoice line a day: no key
    late = case((d.c.day < first_day, 1), else_=0)  # late usage: started before the period it is billed in
    line = (d.c.customer, d.c.currency, d.c.model, d.c.price_version, late)
    query = (select(*line, func.sum(d.c.requests), func.sum(d.c.prompt_tokens), func.sum(d.c.completion_tokens))
             .where(d.c.billing_period == period, d.c.outcome.in_(_CHARGED)).group_by(*line))
    with ledger.engine.connect() as conn:
        folded = int(conn.execute(select(rollup_state.c.folded_seq)).scalar_one())
        rows = conn.execute(query).all()
        granted = _credits(conn, period)
    lines: dict[tuple[str, str, str, str, bool], list[int]] = {}
    for customer, currency, model, version, is_late, requests, prompt, completion in rows:
        acc = lines.setdefault((customer, currency, model, version, bool(is_late)), [0, 0, 0])
        acc[0] += int(requests)
        acc[1] += int(prompt)
        acc[2] += int(completion)
    totals: dict[tuple[str, str], list[Decimal | int]] = {}
    for (customer, currency, _, version, _), (requests, prompt, completion) in lines.items():
        places = places_of(currency)
        input_price, output_price = unit_prices(version)
        amount = (round_half_even(prompt * input_price / MILLION, places)
                  + round_half_even(completion * output_price / MILLION, places))
        acc2 = totals.setdefault((customer, currency), [0, ZERO])
        acc2[0] = int(acc2[0]) + requests
        acc2[1] = Decimal(acc2[1]) + amount
    for key in granted:
        totals.setdefault(key, [0, ZERO])
    figures = tuple(InvoiceFigures(customer, currency, int(acc[0]), Decimal(acc[1]), granted.get((customer, currency),
                                                                                                   ZERO))
                    for (customer, currency), acc in sorted(totals.items()))
    return figures, folded


def _credits(conn: Connection, period: str) -> Mapping[tuple[str, str], Decimal]:
    """The credits the period's close takes: granted before its cut-off (now, while it is open)
    and since the previous close's (`monthend.credits.credits_for`)."""
    p, c = settlement_periods, settlement_credits
    closes = {row.period: row.cutoff for row in conn.execute(select(p.c.period, p.c.cutoff))}
    previous = max((month for month in closes if month < period), default=None)
    if period not in closes and any(month > period for month in closes):
        return {}  # an open month before a closed one cannot be closed
    if period not in closes and previous is not None and Period.parse(previous).next().label != period:
        return {}  # not the next to close: the credits granted now go to the one before it
    conditions = []
    if period in closes:
        conditions.append(c.c.created_at < closes[period])
    if previous is not None:
        conditions.append(c.c.created_at >= closes[previous])
    query = select(c.c.customer, c.c.currency, c.c.amount)
    if conditions:
        query = query.where(and_(*conditions))
    sums: dict[tuple[str, str], Decimal] = {}
    for row in conn.execute(query):
        key = (row.customer, row.currency)
        sums[key] = sums.get(key, ZERO) + Decimal(row.amount)
    return sums
