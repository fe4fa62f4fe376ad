"""Terms acceptances: which version of a licence's terms each customer accepted, when, by whom and
how; append-only, as the audit trail is (src/revshare/accounts/terms_schema.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SQLITE_GUARD = """
CREATE TRIGGER terms_acceptances_append_only_{verb} BEFORE {verb} ON terms_acceptances
BEGIN SELECT RAISE(ABORT, 'terms_acceptances is append-only'); END
"""

_POSTGRES_GUARD = (
    "CREATE FUNCTION terms_acceptances_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'terms_acceptances is append-only'; END $$",
    "CREATE TRIGGER terms_acceptances_append_only BEFORE UPDATE OR DELETE ON terms_acceptances "
    "FOR EACH ROW EXECUTE FUNCTION terms_acceptances_append_only()",
    "CREATE TRIGGER terms_acceptances_no_truncate BEFORE TRUNCATE ON terms_acceptances "
    "FOR EACH STATEMENT EXECUTE FUNCTION terms_acceptances_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "terms_acceptances",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("licence", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_terms_acceptances_customer", "terms_acceptances", ["customer", "licence", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in _POSTGRES_GUARD:
            op.execute(statement)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(_SQLITE_GUARD.format(verb=verb))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE terms_acceptances")
        op.execute("DROP FUNCTION terms_acceptances_append_only()")
    else:
        op.drop_table("terms_acceptances")
