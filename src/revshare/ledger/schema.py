"""Ledger tables (SQLAlchemy Core). Alembic migrations under `migrations/` create them.

Money is stored as text (a Decimal string at 12 places): SQLite has no exact decimal type and
a REAL column would silently turn amounts into floats.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["api_keys", "ledger_archives", "ledger_state", "metadata", "usage_records"]

metadata = MetaData()

# One row per request. `seq` is gapless: it is handed out from `ledger_state.next_seq` inside
# the same transaction that inserts the rows, so a rolled-back batch leaves no hole.
usage_records = Table(
    "usage_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(40), nullable=False, unique=True),
    Column("idempotency_key", String(255)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("customer", String(128), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("licensors", Text, nullable=False, default=""),  # comma-separated lineage chain
    Column("engine", String(128), nullable=False),
    Column("endpoint", String(32), nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("estimated", Boolean, nullable=False, default=False),
    Column("outcome", String(32), nullable=False),
    Column("price_version", String(200), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("error_code", String(64), nullable=False, default=""),
    Column("appended_at", DateTime(timezone=True), nullable=False),
    # HMAC-SHA256 (hex) of the request's `user` field under the host secret, never the field itself;
    # "" when it had none: its end user is then its key (accounts/end_users.py, migration 0011).
    Column("end_user", String(64), nullable=False, default="", server_default=""),
)
# On PostgreSQL (migration 0012) the table is partitioned by month of `started_at`, and its primary
# key is (seq, started_at), the id's unique constraint (id, started_at): ledger/partitions.py.
Index("ix_usage_customer_seq", usage_records.c.customer, usage_records.c.seq)
Index("ix_usage_started_at", usage_records.c.started_at)

# API keys: only a SHA-256 of the secret is kept; `key_id` is the public part shown in lists.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("customer", String(128), nullable=False),
    Column("label", String(128), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# Single-row counters that must move inside the append transaction.
ledger_state = Table(
    "ledger_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("next_seq", BigInteger, nullable=False),
)

# Months `revshare ledger archive` exported (ledger/archive.py): the file and its SHA-256.
ledger_archives = Table(
    "ledger_archives",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("file", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("first_seq", BigInteger),
    Column("last_seq", BigInteger),
    Column("archived_at", DateTime(timezone=True), nullable=False),
    Column("archived_by", String(128), nullable=False),
    Column("dropped", Boolean, nullable=False),
)
