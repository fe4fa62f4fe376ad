"""Usage ledger: records with a gapless seq, hashed API keys, the seq counter.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("licensors", sa.Text, nullable=False),
        sa.Column("engine", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("price_version", sa.String(200), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("appended_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_usage_customer_seq", "usage_records", ["customer", "seq"])
    op.create_index("ix_usage_started_at", "usage_records", ["started_at"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "ledger_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("next_seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO ledger_state (id, next_seq) VALUES (1, 1)")


def downgrade() -> None:
    op.drop_table("ledger_state")
    op.drop_table("api_keys")
    op.drop_index("ix_usage_started_at", "usage_records")
    op.drop_index("ix_usage_customer_seq", "usage_records")
    op.drop_table("usage_records")
