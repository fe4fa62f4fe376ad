"""Settlement: closed periods, credits and refunds, settlement state, issued statements.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Tables as in `revshare.monthend.schema`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_periods",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late_after", sa.DateTime(timezone=True)),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("early", sa.Boolean, nullable=False),
        sa.Column("closed_by", sa.String(128), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "settlement_credits",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("refers_to", sa.String(7)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_settlement_credits_created_at", "settlement_credits", ["created_at"])
    op.create_table(
        "settlement_states",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "settlement_documents",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("number", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settlement_documents")
    op.drop_table("settlement_states")
    op.drop_index("ix_settlement_credits_created_at", "settlement_credits")
    op.drop_table("settlement_credits")
    op.drop_table("settlement_periods")
