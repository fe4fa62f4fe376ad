"""Rollup tables (migration 0008): usage per UTC hour and per UTC day and group, and how far
they are folded. Two grains, so that a month by day reads ~30x fewer rows than by hour.

An amount is kept as two integers, whole units and picounits (the records' 12 decimal places,
0 <= pico < 10^12), so SQL sums it exactly: a SQL numeric type would be a float in SQLite, and
money is never a float. A sum of picounits stays in 64 bits for up to 9 million rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table

__all__ = ["GROUP_COLUMNS", "TOTAL_COLUMNS", "metadata", "rollup_state", "usage_daily", "usage_rollups"]

metadata = MetaData()

# After the time column (`hour` or `day`): what the requests are billed under.
GROUP_COLUMNS = ("customer", "key_id", "model", "price_version", "outcome", "currency", "billing_period")
TOTAL_COLUMNS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "amount_units", "amount_pico")


def _rollup(name: str, time_column: str) -> Table:
    return Table(
        name,
        metadata,
        Column(time_column, DateTime(timezone=True), primary_key=True),  # the UTC hour or day they started in
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
        Column("amount_units", BigInteger, nullable=False),
        Column("amount_pico", BigInteger, nullable=False),
    )


usage_rollups = _rollup("usage_rollups", "hour")
usage_daily = _rollup("usage_daily", "day")

# One row: every record with seq <= folded_seq is in the rollups, and no other.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folded_seq", BigInteger, nullable=False),
)
