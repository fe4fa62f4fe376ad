"""End users and model suspensions (docs/LICENSING.md).

- `usage_records.end_user`: the keyed hash of a request's `user` field ("End users"). Empty for
  records without one, and for every record written before this revision: such a record's end
  user is its API key.
- `model_suspensions`: an operator's suspension of one customer's access to one model for a
  use-policy violation, and its lifting; append-only, as the terms acceptances are
  (src/revshare/accounts/suspensions.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SQLITE_GUARD = """
CREATE TRIGGER model_suspensions_append_only_{verb} BEFORE {verb} ON model_suspensions
BEGIN SELECT RAISE(ABORT, 'model_suspensions is append-only'); END
"""

_POSTGRES_GUARD = (
    "CREATE FUNCTION model_suspensions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'model_suspensions is append-only'; END $$",
    "CREATE TRIGGER model_suspensions_append_only BEFORE UPDATE OR DELETE ON model_suspensions "
    "FOR EACH ROW EXECUTE FUNCTION model_suspensions_append_only()",
    "CREATE TRIGGER model_suspensions_no_truncate BEFORE TRUNCATE ON model_suspensions "
    "FOR EACH STATEMENT EXECUTE FUNCTION model_suspensions_append_only()",
)


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("end_user", sa.String(64), nullable=False, server_default=""))
    op.create_table(
        "model_suspensions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_model_suspensions_customer", "model_suspensions", ["customer", "model", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in _POSTGRES_GUARD:
            op.execute(statement)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(_SQLITE_GUARD.format(verb=verb))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE model_suspensions")
        op.execute("DROP FUNCTION model_suspensions_append_only()")
    else:
        op.drop_table("model_suspensions")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("end_user")
