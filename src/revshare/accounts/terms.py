"""Customers' acceptance of model licence terms: recording one (append-only, audited) and where a
customer stands with each licence that binds the models it may call (docs/LICENSING.md).

    accept(accounts, catalog, customer, licence, version, actor)  -> (Acceptance, recorded?)
    standings(catalog, customer, acceptances, now)                -> [TermsStanding]

An acceptance names the version it accepts, and only the licence's current version may be
accepted: a customer that read an older text is told which one is in force. Recording one moves
`accounts_state.version`, so every gateway's directory holds it within `accounts_refresh_s`, and
appends a `terms.accept` event to the audit trail beside the acceptance row itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from revshare.accounts.acceptances import VIAS, Acceptance, acceptance_of, acceptances_of, terms_acceptances
from revshare.accounts.errors import AccountError, invalid
from revshare.accounts.store import Accounts, Actor, append_event, customer_row
from revshare.config import Catalog
from revshare.config.catalog import LicenceTerms, Standing
from revshare.config.sections import Customer
from revshare.instants import utc_now

__all__ = ["NOTE_MAX", "TermsStanding", "accept", "acceptances", "standings", "unknown_licence"]

NOTE_MAX = 500


@dataclass(frozen=True, slots=True)
class TermsStanding:
    """Where one customer stands with one licence's terms.

    Attributes:
      models: the models the customer may call that these terms bind (by lineage).
      accepted: its acceptances of these terms, oldest first.
    """

    terms: LicenceTerms
    standing: Standing
    models: tuple[str, ...]
    accepted: tuple[Acceptance, ...]

    @property
    def latest(self) -> Acceptance | None:
        return self.accepted[-1] if self.accepted else None


class _Already(Exception):
    def __init__(self, acceptance: Acceptance) -> None:
        super().__init__("already accepted")
        self.acceptance = acceptance


def unknown_licence(licence: str, catalog: Catalog) -> AccountError:
    known = ", ".join(t.id for t in catalog.licences) or "none"
    return AccountError("not_found", f"no licence terms {licence!r} in the catalog (known: {known})", "terms_id")


def accept(accounts: Accounts, catalog: Catalog, customer: str, licence: str, version: str, actor: Actor,
           note: str = "", now: datetime | None = None) -> tuple[Acceptance, bool]:
    """Record that `customer` accepted `version` of a licence's terms: (the acceptance, True), or
    (its earlier acceptance of that version, False) when it had already accepted it, recording
    nothing. Refused (AccountError) for an unknown licence or customer, a version that is not the
    current one (conflict), an unknown `via` or a note too long."""
    terms = catalog.licence(licence)
    if terms is None:
        raise unknown_licence(licence, catalog)
    if version != terms.version:
        raise AccountError("conflict", f"the version of {terms.name!r} in force is {terms.version!r}, not "
                           f"{version!r}: read it at {terms.url} and accept that version", "version")
    if actor.via not in VIAS:
        raise invalid(f"an acceptance is given via {', '.join(VIAS)}; got {actor.via!r}", "via")
    if len(note) > NOTE_MAX or not note.isprintable():
        raise invalid(f"a note is at most {NOTE_MAX} printable characters", "note")
    at = now or utc_now()
    try:
        with accounts.change() as conn:  # the version row is locked first: acceptances are serialized
            customer_row(conn, customer)
            earlier = conn.execute(select(terms_acceptances).where(
                terms_acceptances.c.customer == customer, terms_acceptances.c.licence == licence,
                terms_acceptances.c.version == version).order_by(terms_acceptances.c.seq).limit(1)).first()
            if earlier is not None:
                raise _Already(acceptance_of(earlier._mapping))  # rolls back: the version does not move
            inserted = conn.execute(terms_acceptances.insert().values(
                customer=customer, licence=licence, version=version, accepted_at=at, actor=actor.name,
                via=actor.via, note=note)).inserted_primary_key
            assert inserted is not None
            seq = int(inserted[0])
            after = {"licence": licence, "version": version, **({"note": note} if note else {})}
            append_event(conn, actor, "terms.accept", licence, customer, None, after)
    except _Already as already:
        return already.acceptance, False
    return Acceptance(seq, customer, licence, version, at, actor.name, actor.via, note), True


def acceptances(accounts: Accounts, *, customer: str | None = None, licence: str | None = None,
                after_seq: int = 0, limit: int = 1000) -> list[Acceptance]:
    """The acceptances recorded, oldest first."""
    with accounts.engine.connect() as conn:
        return acceptances_of(conn, customer=customer, licence=licence, after_seq=after_seq, limit=limit)


def standings(catalog: Catalog, customer: Customer, accepted: Sequence[Acceptance],
              now: datetime) -> list[TermsStanding]:
    """Each licence binding a model the customer may call, and each it accepted, in catalog order."""
    mine = [a for a in accepted if a.customer == customer.name]
    result = []
    for terms in catalog.licences:
        models = tuple(m for m in catalog.models_under(terms.id) if customer.may_use(m))
        history = tuple(a for a in mine if a.licence == terms.id)
        if models or history:
            versions = {a.version for a in history}
            result.append(TermsStanding(terms, terms.standing(versions, now), models, history))
    return result
