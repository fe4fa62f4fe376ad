"""Settlement tables (SQLAlchemy Core), on the ledger's `metadata`; migration 0002 creates them.

- `settlement_periods`: one row per closed period. `cutoff` is the close's cut-off: the
  period's records are those appended before it; records of it appended later are late usage
  of the next close. `last_seq` is the ledger's last seq at the cut-off, so every record with a
  larger seq was appended after it. A row is never updated or deleted.
- `settlement_credits`: credits, refunds and discounts. Each lands in the first close whose
  cut-off comes after its `created_at` (the period open when it was granted). Never updated.
  `reference` (migration 0006) is the operator's `--id`, unique when given: a credit is granted
  once per reference.
- `settlement_states`: the `SettlementState` JSON after each settled period (statement chain,
  numbering, recoupment balances): the next period's settle starts from it.
- `settlement_documents`: every statement and invoice issued, with its number, the SHA-256 of
  its JCS bytes and the JSON itself, so a re-run can be checked against what was issued.

Money is text (a Decimal string), as in `usage_records`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, String, Table, Text

from revshare.ledger.schema import metadata

__all__ = ["settlement_credits", "settlement_documents", "settlement_periods", "settlement_states"]

settlement_periods = Table(
    "settlement_periods",
    metadata,
    Column("period", String(7), primary_key=True),  # "YYYY-MM"
    Column("closed_at", DateTime(timezone=True), nullable=False),  # when the close ran
    Column("cutoff", DateTime(timezone=True), nullable=False),  # records appended before it belong
    Column("late_after", DateTime(timezone=True)),  # the previous close's cut-off (None: first close)
    Column("last_seq", BigInteger, nullable=False),  # the ledger's last seq at the cut-off
    Column("early", Boolean, nullable=False, default=False),  # closed before the month ended
    Column("closed_by", String(128), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

settlement_credits = Table(
    "settlement_credits",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer", String(128), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model", String(128)),
    Column("refers_to", String(7)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("reference", String(128)),  # `revshare credit --id`: at most one credit per reference
)
Index("ix_settlement_credits_created_at", settlement_credits.c.created_at)
Index("ux_settlement_credits_reference", settlement_credits.c.reference, unique=True)

settlement_states = Table(
    "settlement_states",
    metadata,
    Column("period", String(7), primary_key=True),
    Column("state", Text, nullable=False),  # SettlementState.to_json(), as JCS text
    Column("settled_at", DateTime(timezone=True), nullable=False),
    Column("settled_by", String(128), nullable=False),
)

settlement_documents = Table(
    "settlement_documents",
    metadata,
    Column("period", String(7), primary_key=True),
    Column("kind", String(16), primary_key=True),  # "statement" or "invoice"
    Column("name", String(255), primary_key=True),  # file stem, e.g. statement-google-google-gemma-2026-01
    Column("number", String(255), nullable=False),  # statement number, or invoice number
    Column("sha256", String(64), nullable=False),  # hex SHA-256 of the JCS bytes of `body`
    Column("body", Text, nullable=False),  # the document's JSON (JCS)
    Column("position", Integer, nullable=False),  # order within the close
)
