"""Intents (`reservations`) in a SQLite table WITHOUT ROWID: keyed by `record_id` alone, so each
request's intent is one B-tree insert and its record's transaction one delete, where a rowid
table with a separate primary-key index wrote two pages for each (two WAL frames a request fewer,
docs/BENCHMARKS.md). The rows a crashed gateway left are copied over. PostgreSQL: unchanged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _rebuild(with_rowid: bool) -> None:
    """Alembic's batch mode recreates the table as it stands (columns, key, rows) with the option."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("reservations", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}):
        pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
