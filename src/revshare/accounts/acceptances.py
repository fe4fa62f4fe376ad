"""The terms acceptances table (migration 0010) and its reads: which version of a licence's terms
each customer accepted, when, by whom and how. Append-only: triggers refuse UPDATE and DELETE, so
the history a licensor may ask for is never rewritten. Recording one is `accounts.terms.accept`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, DateTime, Integer, MetaData, RowMapping, String, Table, Text, select

from revshare.instants import as_utc

__all__ = [
    "VIAS",
    "Acceptance",
    "acceptance_of",
    "acceptances_of",
    "accepted_versions",
    "metadata",
    "terms_acceptances",
]

metadata = MetaData()

# How an acceptance was given: a customer's key on the API (or the operator's admin API recording
# one made offline), the console, or the command line.
VIAS = ("api", "console", "cli")

terms_acceptances = Table(
    "terms_acceptances",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("customer", String(128), nullable=False),
    Column("licence", String(64), nullable=False),  # a [[licences]] id
    Column("version", String(64), nullable=False),  # the version accepted (current when accepted)
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),  # key:<key_id>, admin (<name>), cli:<login>
    Column("via", String(16), nullable=False),  # one of VIAS
    Column("note", Text, nullable=False),  # e.g. the reference of a signed order form; may be empty
)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One customer's acceptance of one version of a licence's terms.

    Attributes:
      seq: its place in the table, in the order acceptances were recorded.
      actor: who accepted: `key:<key_id>` (the customer's key), `admin (<name>)` (the operator,
        recording an acceptance given offline) or `cli:<login name>`.
      via: how: `api`, `console` or `cli`.
    """

    seq: int
    customer: str
    licence: str
    version: str
    accepted_at: datetime
    actor: str
    via: str
    note: str = ""


def accepted_versions(conn: Connection) -> Mapping[tuple[str, str], frozenset[str]]:
    """(customer, licence) -> every version that customer accepted: what a gateway's directory holds."""
    found: dict[tuple[str, str], set[str]] = {}
    query = select(terms_acceptances.c.customer, terms_acceptances.c.licence, terms_acceptances.c.version).distinct()
    for customer, licence, version in conn.execute(query):
        found.setdefault((customer, licence), set()).add(version)
    return {pair: frozenset(versions) for pair, versions in found.items()}


def acceptances_of(conn: Connection, *, customer: str | None = None, licence: str | None = None,
                   after_seq: int = 0, limit: int = 1000) -> list[Acceptance]:
    """Acceptances in the order they were recorded, of one customer or licence or of all."""
    query = (select(terms_acceptances).where(terms_acceptances.c.seq > after_seq)
             .order_by(terms_acceptances.c.seq).limit(limit))
    if customer is not None:
        query = query.where(terms_acceptances.c.customer == customer)
    if licence is not None:
        query = query.where(terms_acceptances.c.licence == licence)
    return [acceptance_of(row._mapping) for row in conn.execute(query)]


def acceptance_of(m: RowMapping) -> Acceptance:
    return Acceptance(m["seq"], m["customer"], m["licence"], m["version"], as_utc(m["accepted_at"]), m["actor"],
                      m["via"], m["note"])
