"""Suspending one customer's access to one model for a use-policy violation, and lifting it
(docs/LICENSING.md, "Suspension"). The licences pass their use policies on to the host's
customers; when one breaks them (the host finds out, or a licensor reports it), the operator
stops that customer's keys calling that model, and only that model, until it lifts the suspension.

    suspend(accounts, catalog, customer, model, reason, actor) -> Suspension
    lift(accounts, catalog, customer, model, reason, actor)    -> Suspension
    history(accounts, customer=..., model=...)                 -> [Suspension]

Each is a row of `model_suspensions` (append-only) and a `model.suspend` / `model.lift` event in
the audit trail, in one transaction that moves `accounts_state.version`: every gateway's directory
holds it within `accounts_refresh_s` (this one at once), and refuses the calls with 403
`model_access_suspended` without a query.
"""

from __future__ import annotations

from datetime import datetime

from revshare.accounts.errors import AccountError, invalid
from revshare.accounts.store import Accounts, Actor, append_event, customer_row
from revshare.accounts.suspensions import Action, Suspension, active_suspensions, model_suspensions, suspensions_of
from revshare.config import Catalog
from revshare.instants import utc_now

__all__ = ["REASON_MAX", "history", "lift", "suspend"]

REASON_MAX = 500


def _record(accounts: Accounts, catalog: Catalog, customer: str, model: str, reason: str, actor: Actor,
            action: Action, now: datetime | None) -> Suspension:
    if catalog.model(model) is None:
        known = ", ".join(m.id for m in catalog.models)
        raise AccountError("not_found", f"no model {model!r} in the catalog (known: {known})", "model")
    if not reason.strip() or len(reason) > REASON_MAX or not reason.isprintable():
        raise invalid(f"a reason is 1 to {REASON_MAX} printable characters (the violation, or why it ends)",
                      "reason")
    at = now or utc_now()
    with accounts.change() as conn:  # the version row is locked first: changes are serialized
        customer_row(conn, customer)
        active = (customer, model) in active_suspensions(conn)
        if action == "suspend" and active:
            raise AccountError("conflict", f"{customer!r}'s access to {model!r} is already suspended", "model")
        if action == "lift" and not active:
            raise AccountError("conflict", f"{customer!r}'s access to {model!r} is not suspended", "model")
        inserted = conn.execute(model_suspensions.insert().values(
            customer=customer, model=model, action=action, at=at, actor=actor.name, via=actor.via,
            reason=reason)).inserted_primary_key
        assert inserted is not None
        append_event(conn, actor, f"model.{action}", model, customer, None, {"model": model, "reason": reason})
    return Suspension(int(inserted[0]), customer, model, action, at, actor.name, actor.via, reason)


def suspend(accounts: Accounts, catalog: Catalog, customer: str, model: str, reason: str, actor: Actor,
            now: datetime | None = None) -> Suspension:
    """Suspend `customer`'s access to `model` (that model only). AccountError: unknown customer or
    model, no reason, or already suspended (conflict)."""
    return _record(accounts, catalog, customer, model, reason, actor, "suspend", now)


def lift(accounts: Accounts, catalog: Catalog, customer: str, model: str, reason: str, actor: Actor,
         now: datetime | None = None) -> Suspension:
    """Lift a suspension in force. AccountError as `suspend`, conflict when there is none."""
    return _record(accounts, catalog, customer, model, reason, actor, "lift", now)


def history(accounts: Accounts, *, customer: str | None = None, model: str | None = None,
            after_seq: int = 0, limit: int = 1000) -> list[Suspension]:
    """Suspensions and liftings, oldest first."""
    with accounts.engine.connect() as conn:
        return suspensions_of(conn, customer=customer, model=model, after_seq=after_seq, limit=limit)
