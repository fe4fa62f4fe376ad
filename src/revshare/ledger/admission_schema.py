"""Admission tables (migration 0005): budget counters, request intents, idempotency keys.

Budget counters are integers in nano-units of the price currency (1e-9): reservations round up,
so `spent + reserved <= limit` is a conservative bound; the records' exact Decimal amounts stay
the accounting truth.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

__all__ = ["budgets", "idempotency_keys", "metadata", "reservations"]

metadata = MetaData()

# One row per (scope, period): scope is `customer:<name>` or `key:<key id>`, period the start
# of the budget period (`2026-11`, `2026-11-29`, or `total`).
budgets = Table(
    "budgets",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("spent", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
)

# A request's intent: written (group commit) before the engine sees the request, deleted in the
# transaction that appends its record. Rows left by a crashed gateway are resolved at start.
reservations = Table(
    "reservations",
    metadata,
    Column("record_id", String(40), primary_key=True),
    Column("instance", String(40), nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("budgets", Text, nullable=False),  # "scope|period" joined by ","
    Column("request", Text, nullable=False),  # JSON: what the recovery needs to write the record
    Column("created_at", DateTime(timezone=True), nullable=False),
    sqlite_with_rowid=False,  # one B-tree, keyed by record_id (migration 0014)
)

# Idempotency-Key per customer: claimed with the intent, completed with the record.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("customer", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("record_id", String(40), nullable=False),
    Column("status", Integer),  # NULL while the first request runs
    Column("response", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
