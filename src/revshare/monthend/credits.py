"""Credits, refunds and discounts: dated adjustments that land in the next open period.

`grant_credit_once` records one (`grant_credit` returns just the credit). It lands in the first
close whose cut-off comes after it, i.e. the period open when it was granted: a closed period
never receives one.

A credit is granted once, so an operator who retries (the first run crashed, timed out, or its
output was lost) never grants it twice:

- with a `reference` (`revshare credit --id REF`), the same reference again is answered with the
  credit already granted, writing nothing; with other fields it is refused;
- without one, a credit identical to one granted less than `DUPLICATE_WINDOW` ago (same customer,
  amount, currency, kind, model, period referred to and reason) is refused, naming the first.
  Two identical credits on purpose: give each its own reference.

Both checks run in the credit's own transaction after `lock_counter`, the lock every close and
every other grant takes, so two racing retries cannot both write.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from revshare.accounts.store import Accounts
from revshare.instants import as_utc, format_instant, utc_now
from revshare.money import D, MoneyError, minor_unit, money_str
from revshare.monthend.schema import (
    settlement_credits,
    settlement_periods,
)
from revshare.settlement import (
    Credit,
    Period,
)

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.store import Ledger
from revshare.monthend.periods import ClosedPeriod, SettlementLedgerError, lock_counter

__all__ = ["CREDIT_KINDS", "DUPLICATE_WINDOW", "REFERENCE_MAX", "Granted", "credits_for", "grant_credit",
           "grant_credit_once"]

CREDIT_KINDS: tuple[str, ...] = ("credit", "refund", "discount")
DUPLICATE_WINDOW = timedelta(minutes=10)  # an identical credit without a reference within it is a retry
REFERENCE_MAX = 128  # settlement_credits.reference


@dataclass(frozen=True, slots=True)
class Granted:
    """What `grant_credit_once` did.

    Attributes:
      credit: the credit, as stored.
      reference: its reference (`--id`), if it has one.
      repeated: True when the reference had been granted already: nothing was written now.
      lands_in: the period whose close takes it; None before any period was closed (the first close).
    """

    credit: Credit
    reference: str | None
    repeated: bool
    lands_in: Period | None


# credits ---------------------------------------------------------------------------------


def _parse_amount(text: str, currency: str) -> Decimal:
    try:
        amount = D(text)
    except MoneyError:
        raise SettlementLedgerError(f"amount {text!r} is not a decimal number such as 12.50") from None
    if amount <= 0:
        raise SettlementLedgerError(f"amount must be greater than zero, got {text!r}")
    places = minor_unit(currency)
    try:
        on_grid = amount.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:  # more digits than the decimal context holds, e.g. 1e999
        raise SettlementLedgerError(f"amount {text!r} is too large") from None
    if amount != on_grid:
        raise SettlementLedgerError(
            f"amount {text!r} has more than {places} decimal places, the minor unit of {currency}")
    return on_grid


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


def _check_reference(reference: str | None) -> None:
    if reference is None:
        return
    if not 1 <= len(reference) <= REFERENCE_MAX or not reference.isprintable() or reference != reference.strip():
        raise SettlementLedgerError(
            f"--id {reference!r}: a reference is 1 to {REFERENCE_MAX} printable characters, without spaces "
            "at either end")


def _credit(m: Any) -> Credit:
    return Credit(m["id"], m["customer"], D(m["amount"]), m["currency"], as_utc(m["created_at"]), m["reason"],
                  m["kind"], m["model"], m["refers_to"])


def _same(m: Any, fields: dict[str, Any]) -> bool:
    return all(m[name] == value for name, value in fields.items())


def _earlier(conn: Connection, reference: str | None, fields: dict[str, Any], now: datetime) -> Any | None:
    """The row this grant repeats: the reference's credit, or an identical one inside the window."""
    c = settlement_credits
    if reference is not None:
        return conn.execute(select(c).where(c.c.reference == reference)).first()
    query = (select(c).where(*(c.c[name] == value if value is not None else c.c[name].is_(None)
                               for name, value in fields.items()),
                             c.c.created_at >= now - DUPLICATE_WINDOW)
             .order_by(c.c.created_at.desc()).limit(1))
    return conn.execute(query).first()


def _lands_in(conn: Connection, granted_at: datetime) -> Period | None:
    """The period whose close takes a credit granted at `granted_at`: the first close with a later
    cut-off, else the month after the last one closed (None: nothing closed yet)."""
    p = settlement_periods
    taken_by = conn.execute(select(func.min(p.c.period)).where(p.c.cutoff > granted_at)).scalar_one_or_none()
    if taken_by:
        return Period.parse(taken_by)
    last = conn.execute(select(func.max(p.c.period))).scalar_one_or_none()
    return Period.parse(last).next() if last else None


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
    reference: str | None = None,
) -> Credit:
    """`grant_credit_once`, returning the credit (the one granted before, for a repeated reference)."""
    return grant_credit_once(ledger, catalog, customer=customer, amount=amount, reason=reason, created_by=created_by,
                             kind=kind, model=model, currency=currency, refers_to=refers_to,
                             reference=reference).credit


def grant_credit_once(
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
    reference: str | None = None,
) -> Granted:
    """Record a credit, refund or discount, dated now; it lands in the next close. Once (module doc).

    `amount` is text (a Decimal string > 0 on the currency's minor unit), never a float. Every
    refusal (SettlementLedgerError) comes before anything is written.
    """
    if not isinstance(amount, str):
        raise SettlementLedgerError("amount must be given as text, e.g. '12.50' (never a float)")
    if catalog.customer(customer) is None and Accounts(ledger).account(customer) is None:
        known = ", ".join(sorted({c.name for c in catalog.customers} | set(Accounts(ledger).load().accounts))) or "none"
        raise SettlementLedgerError(f"{catalog.source}: no customer named {customer!r} in the catalog or the "
                                    f"accounts (known: {known})")
    if kind not in CREDIT_KINDS:
        raise SettlementLedgerError(f"kind must be one of {', '.join(CREDIT_KINDS)}, got {kind!r}")
    if model is not None and catalog.model(model) is None:
        raise SettlementLedgerError(f"{catalog.source}: no model {model!r} in [[models]]")
    if not reason.strip():
        raise SettlementLedgerError("give a reason: it is printed on the invoice and the statement")
    if refers_to is not None:
        try:
            period = Period.parse(refers_to)
            _ = (period.start, period.end)  # a month the calendar holds
        except (ValueError, OverflowError) as exc:
            raise SettlementLedgerError(f"--refers-to {refers_to!r}: {exc}") from None
        refers_to = period.label
    _check_reference(reference)
    cur = _credit_currency(catalog, model, currency)
    value = _parse_amount(amount, cur)
    fields = {"customer": customer, "amount": money_str(value), "currency": cur, "reason": reason.strip(),
              "kind": kind, "model": model, "refers_to": refers_to}
    credit_id = "cr_" + secrets.token_hex(8)
    try:
        with ledger.engine.begin() as conn:
            lock_counter(conn)  # so no close (and no other grant) can slip between these checks and the commit
            created = utc_now()
            earlier = _earlier(conn, reference, fields, created)
            if earlier is not None:
                return _repeated(earlier._mapping, reference, fields,
                                 _lands_in(conn, as_utc(earlier._mapping["created_at"])))
            lands_in = _lands_in(conn, created)
            conn.execute(settlement_credits.insert().values(
                id=credit_id, created_at=created, created_by=created_by, reference=reference, **fields))
    except SQLAlchemyError as exc:
        reason_text = getattr(exc, "orig", None) or exc
        raise SettlementLedgerError(
            f"cannot record the credit in the ledger at {ledger.safe_url}: {reason_text}; nothing was written"
        ) from exc
    credit = Credit(credit_id, customer, value, cur, created, reason.strip(),
                    cast(Literal["credit", "refund", "discount"], kind), model, refers_to)
    return Granted(credit, reference, False, lands_in)


def _repeated(m: Any, reference: str | None, fields: dict[str, Any], lands_in: Period | None) -> Granted:
    """A repeated reference with the same fields is answered; anything else is refused."""
    when = format_instant(as_utc(m["created_at"]))
    if reference is None:
        raise SettlementLedgerError(
            f"an identical credit {m['id']} was granted at {when}, less than {DUPLICATE_WINDOW.seconds // 60} "
            "minutes ago: nothing written. If this is a retry, that credit stands; to grant the same credit "
            "again on purpose, give each one its own --id")
    if not _same(m, fields):
        differs = ", ".join(f"{name} {m[name]!r}" for name, value in fields.items() if m[name] != value)
        raise SettlementLedgerError(
            f"reference {reference!r} was already used for credit {m['id']} ({differs}) at {when}: nothing "
            "written. A reference names one credit; give another --id for another credit")
    return Granted(_credit(m), reference, True, lands_in)


def credits_for(ledger: Ledger, closed: ClosedPeriod) -> tuple[Credit, ...]:
    """The credits a close takes: granted before its cut-off and since the previous one."""
    c = settlement_credits
    cond = [c.c.created_at < closed.cutoff]
    if closed.late_after is not None:
        cond.append(c.c.created_at >= closed.late_after)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(c).where(and_(*cond)).order_by(c.c.id)).all()
    return tuple(sorted(_credit(r._mapping) for r in rows))


