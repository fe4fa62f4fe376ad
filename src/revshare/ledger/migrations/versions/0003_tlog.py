"""Verifiable log: Merkle tree nodes per log, leaves, signed checkpoints, licensor tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_logs",
        sa.Column("log_id", sa.String(140), primary_key=True),
        sa.Column("origin", sa.String(400), nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tlog_nodes",
        sa.Column("log_id", sa.String(140), primary_key=True),
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "tlog_leaves",
        sa.Column("log_id", sa.String(140), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ux_tlog_leaves_seq", "tlog_leaves", ["log_id", "seq"], unique=True)
    op.create_table(
        "tlog_checkpoints",
        sa.Column("log_id", sa.String(140), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tlog_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integrated_seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO tlog_state (id, integrated_seq) VALUES (1, 0)")
    op.create_table(
        "licensor_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("licensor", sa.String(128), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("licensor_tokens")
    op.drop_table("tlog_state")
    op.drop_table("tlog_checkpoints")
    op.drop_index("ux_tlog_leaves_seq", "tlog_leaves")
    op.drop_table("tlog_leaves")
    op.drop_table("tlog_nodes")
    op.drop_table("tlog_logs")
