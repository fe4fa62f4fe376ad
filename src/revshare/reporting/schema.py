"""Rollup tables (migration 0008): usage per UTC hour and per UTC day and group, and how far
they are folded. Two grains, so that a month by day reads ~30x fewer rows than by hour.

The summaries (migration 0013) hold the same totals with fewer columns, folded in the same
transaction: a view that neither splits nor filters by a column they leave out (the key, mostly)
reads one of them instead, so a month by model reads a few hundred rows, not one per customer,
key and model a day. `SUMMARIES` lists each grain's tables, smallest first.

An amount is kept as two integers, whole units and picounits (the records' 12 decimal places,
0 <= pico < 10^12), so SQL sums it exactly: a SQL numeric type would be a float in SQLite, and
money is never a float. A sum of picounits stays in 64 bits for up to 9 million rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table

__all__ = ["GROUP_COLUMNS", "SUMMARIES", "TOTAL_COLUMNS", "group_columns", "metadata", "rollup_state",
           "usage_daily", "usage_daily_lines", "usage_daily_models", "usage_hourly_customers",
           "usage_hourly_models", "usage_rollups"]

metadata = MetaData()

# After the time column (`hour` or `day`): what the requests are billed under.
GROUP_COLUMNS = ("customer", "key_id", "model", "price_version", "outcome", "currency", "billing_period")
TOTAL_COLUMNS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "amount_units", "amount_pico")


_GROUP_TYPES = {"customer": String(128), "key_id": String(64), "model": String(128), "price_version": String(200),
                "outcome": String(32), "currency": String(3),
                # The month whose close bills these requests: their start's month, or for late usage
                # (appended after that month's close) the first close after they were appended.
                "billing_period": String(7)}


def _rollup(name: str, time_column: str, groups: Sequence[str] = GROUP_COLUMNS, *extra: Column[int]) -> Table:
    return Table(
        name,
        metadata,
        Column(time_column, DateTime(timezone=True), primary_key=True),  # the UTC hour or day they started in
        *(Column(column, _GROUP_TYPES[column], primary_key=True) for column in groups),
        Column("requests", BigInteger, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("cached_tokens", BigInteger, nullable=False),
        Column("amount_units", BigInteger, nullable=False),
        Column("amount_pico", BigInteger, nullable=False),
        *extra,
    )


usage_rollups = _rollup("usage_rollups", "hour")
usage_daily = _rollup("usage_daily", "day")

_LINES = ("customer", "model", "price_version", "outcome", "currency", "billing_period")  # an invoice's lines
# changed_seq: the folded_seq of the last fold that changed the row, so that the licensor share
# re-reads (and re-settles) only the days that changed since it last looked (reporting.licensor_share).
usage_daily_lines = _rollup("usage_daily_lines", "day", _LINES, Column("changed_seq", BigInteger, nullable=False))
usage_daily_models = _rollup("usage_daily_models", "day", ("model", "outcome", "currency", "billing_period"))
usage_hourly_models = _rollup("usage_hourly_models", "hour", ("model", "outcome", "currency", "billing_period"))
usage_hourly_customers = _rollup("usage_hourly_customers", "hour",
                                 ("customer", "outcome", "currency", "billing_period"))
Index("ix_usage_daily_lines_customer_day", usage_daily_lines.c.customer, usage_daily_lines.c.day)
Index("ix_usage_daily_lines_billing_period", usage_daily_lines.c.billing_period)
Index("ix_usage_daily_lines_changed_seq", usage_daily_lines.c.changed_seq)
Index("ix_usage_hourly_customers_customer_hour", usage_hourly_customers.c.customer, usage_hourly_customers.c.hour)

# Per grain, every table that holds it, smallest first: the full rollup last.
SUMMARIES: dict[str, tuple[Table, ...]] = {
    "hour": (usage_hourly_models, usage_hourly_customers, usage_rollups),
    "day": (usage_daily_models, usage_daily_lines, usage_daily),
}


def group_columns(table: Table) -> tuple[str, ...]:
    """The columns a rollup table groups by after its time column."""
    return tuple(table.primary_key.columns.keys()[1:])

# One row: every record with seq <= folded_seq is in the rollups, and no other.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folded_seq", BigInteger, nullable=False),
)
