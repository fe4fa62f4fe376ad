"""The licence-terms acceptance history a licensor's statement bundle carries (acceptances.json,
`revshare.settlement.bundle_acceptances`): every acceptance recorded before the close's cut-off
of the licences binding the licensor's models, and every suspension of a customer's access to one
of its models (and lifting), customers and keys as the log's pseudonyms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from revshare.accounts.acceptances import Acceptance, acceptance_of, terms_acceptances
from revshare.accounts.suspensions import model_suspensions, suspension_of
from revshare.instants import format_instant
from revshare.monthend.periods import ClosedPeriod
from revshare.records.projection import customer_pseudonym, key_pseudonym
from revshare.settlement.bundle_acceptances import AcceptanceHistory, AcceptedTerms, BundleLicence, SuspensionEntry

if TYPE_CHECKING:
    from revshare.config import Catalog
    from revshare.ledger.store import Ledger

__all__ = ["acceptance_history", "licences_of"]


def licences_of(catalog: Catalog, licensor: str) -> tuple[str, ...]:
    """The ids of the licences binding a model the licensor is paid for (by lineage), in catalog order."""
    bound = {t.id for m in catalog.models if licensor in catalog.licensor_chain(m.id)
             for t in catalog.licence_chain(m.id)}
    return tuple(t.id for t in catalog.licences if t.id in bound)


def _entry(a: Acceptance, secret: bytes) -> AcceptedTerms:
    by = "key" if a.actor.startswith("key:") else "cli" if a.actor.startswith("cli:") or a.via == "cli" else "admin"
    key = key_pseudonym(secret, a.actor.removeprefix("key:")) if by == "key" else None
    return AcceptedTerms(a.seq, customer_pseudonym(secret, a.customer), a.licence, a.version,
                         format_instant(a.accepted_at), a.via, by, key)


def acceptance_history(ledger: Ledger, catalog: Catalog, licensor: str, closed: ClosedPeriod,
                       secret: bytes) -> AcceptanceHistory:
    """The history as of the close: the same document however often the bundle is exported."""
    ids = licences_of(catalog, licensor)
    t = terms_acceptances.c
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(terms_acceptances).where(t.licence.in_(ids), t.accepted_at < closed.cutoff)
                            .order_by(t.seq)).all() if ids else []
        models = [m.id for m in catalog.models if licensor in catalog.licensor_chain(m.id)]
        s = model_suspensions.c
        suspended = [suspension_of(r._mapping) for r in conn.execute(
            select(model_suspensions).where(s.model.in_(models), s.at < closed.cutoff).order_by(s.seq))]
    licences = tuple(BundleLicence(x.id, x.name, x.version, x.url, x.acceptance_required)
                     for x in catalog.licences if x.id in ids)
    return AcceptanceHistory(licensor, closed.period.label, format_instant(closed.cutoff), licences,
                             tuple(_entry(acceptance_of(r._mapping), secret) for r in rows),
                             tuple(SuspensionEntry(x.seq, customer_pseudonym(secret, x.customer), x.model, x.action,
                                                   format_instant(x.at), "cli" if x.via == "cli" else "admin")
                                   for x in suspended))
