"""Verifiable log: Merkle tree nodes per log, leaves, signed checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the verifiable-log integration


def downgrade() -> None:
    pass
