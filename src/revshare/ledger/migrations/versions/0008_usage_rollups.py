"""Usage rollups: per UTC hour and per UTC day, customer, key, model, price version, outcome,
currency and the period whose close bills them, folded from usage_records in seq order
(src/revshare/reporting/schema.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _rollup(name: str, time_column: str) -> None:
    op.create_table(
        name,
        sa.Column(time_column, sa.DateTime(timezone=True), primary_key=True),
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("price_version", sa.String(200), primary_key=True),
        sa.Column("outcome", sa.String(32), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("billing_period", sa.String(7), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("amount_units", sa.BigInteger, nullable=False),
        sa.Column("amount_pico", sa.BigInteger, nullable=False),
    )
    op.create_index(f"ix_{name}_customer_{time_column}", name, ["customer", time_column])
    op.create_index(f"ix_{name}_billing_period", name, ["billing_period"])


def upgrade() -> None:
    _rollup("usage_rollups", "hour")
    _rollup("usage_daily", "day")
    state = op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("folded_seq", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "folded_seq": 0}])


def downgrade() -> None:
    op.drop_table("rollup_state")
    for name, time_column in (("usage_daily", "day"), ("usage_rollups", "hour")):
        op.drop_index(f"ix_{name}_billing_period", table_name=name)
        op.drop_index(f"ix_{name}_customer_{time_column}", table_name=name)
        op.drop_table(name)
