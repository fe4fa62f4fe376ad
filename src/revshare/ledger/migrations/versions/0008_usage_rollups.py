"""Usage rollups: per UTC hour, customer, key, model, price version, outcome and currency, folded
from usage_records in seq order (src/revshare/reporting/schema.py).

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


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
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
        sa.Column("amount", sa.String(60), nullable=False),
    )
    op.create_index("ix_usage_rollups_customer_hour", "usage_rollups", ["customer", "hour"])
    op.create_index("ix_usage_rollups_billing_period", "usage_rollups", ["billing_period"])
    state = op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("folded_seq", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "folded_seq": 0}])


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_index("ix_usage_rollups_billing_period", table_name="usage_rollups")
    op.drop_index("ix_usage_rollups_customer_hour", table_name="usage_rollups")
    op.drop_table("usage_rollups")
