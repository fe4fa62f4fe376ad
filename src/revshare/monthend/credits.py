"""Credits, refunds and discounts: dated adjustments that land in the next open period.

`grant_credit` records one. It lands in the first close whose cut-off comes after it, i.e. the
period open when it was granted: a closed period never receives one.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, cast

from sqlalchemy import and_, select
from sqlalchemy.exc import SQLAlchemyError

from revshare.instants import as_utc, utc_now
from revshare.money import D, MoneyError, minor_unit, money_str
from revshare.monthend.schema import (
    settlement_credits,
)
from revshare.settlement import (
    Credit,
    Period,
)

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.store import Ledger
from revshare.monthend.periods import ClosedPeriod, SettlementLedgerError, lock_counter

__all__ = ["CREDIT_KINDS", "credits_for", "grant_credit"]

CREDIT_KINDS: tuple[str, ...] = ("credit", "refund", "discount")


# credits ---------------------------------------------------------------------------------


def _parse_amount(text: str, currency: str) -> Decimal:
    try:
        amount = D(text)
    except MoneyError:
        raise SettlementLedgerError(f"amount {text!r} is not a decimal number such as 12.50") from None
    if amount <= 0:
        raise SettlementLedgerError(f"amount must be greater than zero, got {text!r}")
    places = minor_unit(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise SettlementLedgerError(
            f"amount {text!r} has more than {places} decimal places, the minor unit of {currency}")
    return amount.quantize(Decimal(1).scaleb(-places))


def _credit_currency(catalog: Catalog, model: str | None, currency: str | None) -> str:
    known = sorted({p.currency for p in catalog.prices if model is None or p.model == model})
    if currency is not None:
        if currency not in known:
            where = f"model {model!r}" if model else "the catalog"
            raise SettlementLedgerError(
                f"currency {currency!r}: {where} has prices only in {', '.join(known) or 'none'}")
        return currency
    if len(known) != 1:
        raise SettlementLedgerError(f"give --currency: prices are in {', '.join(known)}")
    return known[0]


def grant_credit(
    ledger: Ledger,
    catalog: Catalog,
    *,
    customer: str,
    amount: str,
    reason: str,
    created_by: str,
    kind: str = "credit",
    model: str | None = None,
    currency: str | None = None,
    refers_to: str | None = None,
) -> Credit:
    """Record a credit, refund or discount, dated now; it lands in the next close.

    `amount` is text (a Decimal string > 0 on the currency's minor unit), never a float.
    """
    if not isinstance(amount, str):
        raise SettlementLedgerError("amount must be given as text, e.g. '12.50' (never a float)")
    if catalog.customer(customer) is None:
        known = ", ".join(c.name for c in catalog.customers) or "none"
        raise SettlementLedgerError(f"{catalog.source}: no customer named {customer!r} (known: {known})")
    if kind not in CREDIT_KINDS:
        raise SettlementLedgerError(f"kind must be one of {', '.join(CREDIT_KINDS)}, got {kind!r}")
    if model is not None and catalog.model(model) is None:
        raise SettlementLedgerError(f"{catalog.source}: no model {model!r} in [[models]]")
    if not reason.strip():
        raise SettlementLedgerError("give a reason: it is printed on the invoice and the statement")
    if refers_to is not None:
        try:
            refers_to = Period.parse(refers_to).label
        except ValueError as exc:
            raise SettlementLedgerError(f"--refers-to: {exc}") from None
    cur = _credit_currency(catalog, model, currency)
    value = _parse_amount(amount, cur)
    credit_id = "cr_" + secrets.token_hex(8)
    try:
        with ledger.engine.begin() as conn:
            lock_counter(conn)  # so no close can slip between this date and the commit
            created = utc_now()
            conn.execute(settlement_credits.insert().values(
                id=credit_id, customer=customer, amount=money_str(value), currency=cur, reason=reason.strip(),
                kind=kind, model=model, refers_to=refers_to, created_at=created, created_by=created_by))
    except SQLAlchemyError as exc:
        raise SettlementLedgerError(f"cannot record the credit in the ledger at {ledger.safe_url}: {exc}") from exc
    return Credit(credit_id, customer, value, cur, created, reason.strip(),
                  cast(Literal["credit", "refund", "discount"], kind), model, refers_to)


def credits_for(ledger: Ledger, closed: ClosedPeriod) -> tuple[Credit, ...]:
    """The credits a close takes: granted before its cut-off and since the previous one."""
    c = settlement_credits
    cond = [c.c.created_at < closed.cutoff]
    if closed.late_after is not None:
        cond.append(c.c.created_at >= closed.late_after)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(c).where(and_(*cond)).order_by(c.c.id)).all()
    return tuple(sorted(
        Credit(m["id"], m["customer"], D(m["amount"]), m["currency"], as_utc(m["created_at"]), m["reason"],
               m["kind"], m["model"], m["refers_to"])
        for m in (r._mapping for r in rows)
    ))


