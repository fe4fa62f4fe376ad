"""Credit references (`revshare credit --id`) and the index the idempotency sweep reads.

- `settlement_credits.reference`: an operator's reference for a credit, unique when given, so a
  repeated `revshare credit --id REF` is answered as already granted instead of granted twice.
- `ix_idempotency_keys_created_at`: stored responses are deleted once past their retention
  window (`server.idempotency_retention_s`); the sweep finds them by claim time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("settlement_credits") as batch:
        batch.add_column(sa.Column("reference", sa.String(128)))
        batch.create_index("ux_settlement_credits_reference", ["reference"], unique=True)
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    with op.batch_alter_table("settlement_credits") as batch:
        batch.drop_index("ux_settlement_credits_reference")
        batch.drop_column("reference")
