"""Witness cosignatures: per log, checkpoint size and witness key, the cosignature/v1 line the host
received for that checkpoint (src/revshare/logstore/schema.py, docs/TLOG.md "Witness").

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_cosignatures",
        sa.Column("log_id", sa.String(140), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(400), primary_key=True),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("cosigned_at", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tlog_cosignatures")
