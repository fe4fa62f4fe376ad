"""Rollup tables (migration 0008): usage per UTC hour and group, and how far they are folded.

`amount` is the exact sum of the records' Decimal amounts, as text: a SQL numeric type would be
a float in SQLite, and money is never a float.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table

__all__ = ["GROUP_COLUMNS", "metadata", "rollup_state", "usage_rollups"]

metadata = MetaData()

usage_rollups = Table(
    "usage_rollups",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),  # the UTC hour the requests started in
    Column("customer", String(128), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("price_version", String(200), primary_key=True),
    Column("outcome", String(32), primary_key=True),
    Column("currency", String(3), primary_key=True),
    # The month whose close bills these requests: their start's month, or for late usage
    # (appended after that month's close) the first close after they were appended.
    Column("billing_period", String(7), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("amount", String(60), nullable=False),
)

GROUP_COLUMNS = ("hour", "customer", "key_id", "model", "price_version", "outcome", "currency", "billing_period")

# One row: every record with seq <= folded_seq is in the rollups, and no other.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folded_seq", BigInteger, nullable=False),
)
