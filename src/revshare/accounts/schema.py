"""Account tables (migration 0007): customers, per-key limits, the audit trail, a change counter.

A customer's and a key's settings are kept as JSON documents of the catalog's own types
(`config.sections.Customer`, `Limits`), so a setting added to the catalog needs no migration and
is validated by one model wherever it comes from.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

__all__ = ["accounts_state", "audit_events", "customers", "key_limits", "metadata"]

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON of config.sections.Customer, less its name
    Column("source", String(16), nullable=False),  # "catalog" (revshare.toml manages it) or "api"
    Column("suspended_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Limits and a budget of one API key, on top of its customer's (api_keys holds the key itself).
key_limits = Table(
    "key_limits",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON of config.sections.Limits
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Append-only (triggers refuse UPDATE and DELETE): who changed what, when, through what.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("via", String(16), nullable=False),  # api, cli, catalog, serve
    Column("action", String(64), nullable=False),  # e.g. customer.create, key.revoke
    Column("subject", String(128), nullable=False),  # a customer name or a key id
    Column("customer", String(128), nullable=False),
    Column("detail", Text, nullable=False),  # JSON {"before": ..., "after": ...}; never a secret
)

# One row; its version moves with every change, so a gateway notices one with a single read.
accounts_state = Table(
    "accounts_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)
