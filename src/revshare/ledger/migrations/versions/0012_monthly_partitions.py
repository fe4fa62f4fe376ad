"""Monthly partitions of `usage_records` on PostgreSQL, and the record of archived months.

- PostgreSQL: `usage_records` becomes a table range-partitioned by `started_at`, one partition a
  UTC month (`usage_records_yYYYYmMM`) for every month that has records and for this month and
  the next three, plus `usage_records_default`. A partitioned table's unique constraints must
  hold the partition key, so the primary key becomes (seq, started_at) and the record id's
  unique constraint (id, started_at); docs/RELIABILITY.md ("A ledger partitioned by month")
  argues why every guarantee holds. The rows are copied once, inside the migration's transaction
  (an exclusive lock on the ledger for as long as the copy takes: run it in a maintenance window
  on a large ledger). SQLite keeps its one table.
- `ledger_archives` (both backends): one row per month `revshare ledger archive` exported, with
  the file's SHA-256 (ledger/archive.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from revshare.ledger.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    add_months,
    create_month,
    month_of,
)

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_OLD = "usage_records_unpartitioned"
_KEYS = ("usage_records_pkey", "usage_records_id_key")


def _secondary_indexes(conn: sa.Connection) -> list[str]:
    """CREATE INDEX statements of usage_records' indexes other than its two unique constraints."""
    rows = conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_records' "
                                "AND schemaname = current_schema()"))
    return [r.indexdef for r in rows if r.indexname not in _KEYS and "UNIQUE" not in r.indexdef]


def _partition(conn: sa.Connection) -> None:
    indexes = _secondary_indexes(conn)
    names = [d.split(" ON ")[0].split()[-1] for d in indexes]
    op.execute(f"ALTER TABLE usage_records RENAME TO {_OLD}")
    for name in names:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"CREATE TABLE usage_records (LIKE {_OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (started_at)")
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF usage_records DEFAULT")
    months = {month_of(m) for m in conn.execute(sa.text(
        f"SELECT DISTINCT date_trunc('month', started_at AT TIME ZONE 'UTC') FROM {_OLD}")).scalars()}
    now = month_of(datetime.now(UTC))
    months.update(add_months(now, n) for n in range(MONTHS_AHEAD + 1))
    for month in sorted(months):
        create_month(conn, month)
    op.execute(f"INSERT INTO usage_records SELECT * FROM {_OLD}")
    op.execute(f"DROP TABLE {_OLD}")
    op.execute("ALTER TABLE usage_records ADD CONSTRAINT usage_records_pkey PRIMARY KEY (seq, started_at)")
    op.execute("ALTER TABLE usage_records ADD CONSTRAINT usage_records_id_key UNIQUE (id, started_at)")
    for statement in indexes:
        op.execute(statement)


def _unpartition(conn: sa.Connection) -> None:
    indexes = _secondary_indexes(conn)
    names = [d.split(" ON ")[0].split()[-1] for d in indexes]
    op.execute(f"ALTER TABLE usage_records RENAME TO {_OLD}")
    for name in names:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"CREATE TABLE usage_records (LIKE {_OLD} INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO usage_records SELECT * FROM {_OLD}")
    op.execute(f"DROP TABLE {_OLD} CASCADE")
    op.execute("ALTER TABLE usage_records ADD CONSTRAINT usage_records_pkey PRIMARY KEY (seq)")
    op.execute("ALTER TABLE usage_records ADD CONSTRAINT usage_records_id_key UNIQUE (id)")
    for statement in indexes:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "ledger_archives",
        sa.Column("month", sa.String(7), primary_key=True),  # "YYYY-MM"
        sa.Column("file", sa.String(1000), nullable=False),  # the file's name as written
        sa.Column("sha256", sa.String(64), nullable=False),  # hex SHA-256 of the compressed file
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("first_seq", sa.BigInteger),
        sa.Column("last_seq", sa.BigInteger),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_by", sa.String(128), nullable=False),
        sa.Column("dropped", sa.Boolean, nullable=False),
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _partition(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _unpartition(conn)
    op.drop_table("ledger_archives")
