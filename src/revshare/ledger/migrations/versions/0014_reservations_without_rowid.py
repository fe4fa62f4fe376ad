"""Intents (`reservations`) in a SQLite table WITHOUT ROWID: keyed by `record_id` alone, so each
request's intent is one B-tree insert and its record's transaction one delete, where a rowid
table with a separate primary-key index wrote two pages for each (two WAL frames a request fewer,
docs/BENCHMARKS.md). The rows a crashed gateway left are copied over. PostgreSQL: unchanged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = "record_id, instance, units, budgets, request, created_at"


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "reservations_rebuilt",
        sa.Column("record_id", sa.String(40), primary_key=True),
        sa.Column("instance", sa.String(40), nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("budgets", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(f"INSERT INTO reservations_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM reservations")
    op.drop_table("reservations")
    op.rename_table("reservations_rebuilt", "reservations")


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
