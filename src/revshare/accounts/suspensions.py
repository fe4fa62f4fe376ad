"""The model suspensions table (migration 0011) and its reads: an operator's suspension of one
customer's access to one model for a use-policy violation, and its lifting. Append-only
(triggers refuse UPDATE and DELETE): a suspension is lifted by a row of its own, so the history
a licensor may ask for is never rewritten. Recording one is `accounts.model_access`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Column, Connection, DateTime, Integer, MetaData, RowMapping, String, Table, Text, select

from revshare.instants import as_utc

__all__ = ["Suspension", "active_suspensions", "metadata", "model_suspensions", "suspension_of", "suspensions_of"]

metadata = MetaData()

model_suspensions = Table(
    "model_suspensions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("customer", String(128), nullable=False),
    Column("model", String(128), nullable=False),  # a catalog model id: that model only
    Column("action", String(16), nullable=False),  # "suspend" or "lift"
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),  # admin (<name>), cli:<login>
    Column("via", String(16), nullable=False),  # api, console, cli
    Column("reason", Text, nullable=False),  # the use-policy violation, or why it was lifted
)

Action = Literal["suspend", "lift"]


@dataclass(frozen=True, slots=True)
class Suspension:
    """One suspension of a customer's access to a model, or its lifting (`action`)."""

    seq: int
    customer: str
    model: str
    action: Action
    at: datetime
    actor: str
    via: str
    reason: str


def suspension_of(m: RowMapping) -> Suspension:
    return Suspension(m["seq"], m["customer"], m["model"], m["action"], as_utc(m["at"]), m["actor"], m["via"],
                      m["reason"])


def active_suspensions(conn: Connection) -> Mapping[tuple[str, str], Suspension]:
    """(customer, model) -> its suspension in force (the pair's latest row is a suspension)."""
    latest: dict[tuple[str, str], Suspension] = {}
    for row in conn.execute(select(model_suspensions).order_by(model_suspensions.c.seq)):
        s = suspension_of(row._mapping)
        latest[(s.customer, s.model)] = s
    return {pair: s for pair, s in latest.items() if s.action == "suspend"}


def suspensions_of(conn: Connection, *, customer: str | None = None, model: str | None = None,
                   after_seq: int = 0, limit: int = 1000) -> list[Suspension]:
    """Suspensions and liftings in the order recorded, of one customer or model or of all."""
    t = model_suspensions
    query = select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit)
    if customer is not None:
        query = query.where(t.c.customer == customer)
    if model is not None:
        query = query.where(t.c.model == model)
    return [suspension_of(row._mapping) for row in conn.execute(query)]
