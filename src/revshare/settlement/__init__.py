"""Settlement: licensor statements and customer invoices, as pure functions over frozen records.

Typical close (the ledger produces the aggregates with `aggregate_sql`)::

    window = window_for(catalog.contracts, Period.parse("2026-01"),
                        closed_at=now, late_after=previous_close)
    rows = [UsageAggregate(*r) for r in conn.execute(aggregate_sql(window))]
    result = settle(catalog, window, rows, prior=SettlementState.from_json(saved), credits=credits)
    assert not validate_settlement(result)
    write_files(out_dir, result.statements, result.invoices)
    save(result.state.to_json())

This package imports no web framework, database driver or engine: a licensor's verifier uses it
with only the base dependencies. (`aggregate_sql` imports SQLAlchemy when called.)
"""

from __future__ import annotations

from revshare.settlement.adjustments import Credit
from revshare.settlement.aggregate import UsageAggregate, aggregate, aggregate_sql, sort_aggregates
from revshare.settlement.errors import SettlementError
from revshare.settlement.invoice import Invoice, InvoiceCredit, InvoiceLine
from revshare.settlement.period import Period, Window, window_for
from revshare.settlement.render import (
    invoice_csv,
    invoice_html,
    invoice_json,
    invoice_stem,
    statement_csv,
    statement_hash,
    statement_html,
    statement_json,
    statement_stem,
    write_files,
)
from revshare.settlement.settle import HostSummary, SettlementResult, settle
from revshare.settlement.state import ContractState, SettlementState, next_state
from revshare.settlement.statement import (
    AdjustmentLine,
    LeafSet,
    LogRef,
    SegmentTerms,
    Statement,
    StatementLine,
    StatementTotals,
    TierLine,
)
from revshare.settlement.terms import ContractConfig, LicensorConfig, Royalty, TermsError, Tier, validate_terms
from revshare.settlement.validate import (
    validate_invoice,
    validate_settlement,
    validate_statement,
    validate_summary,
)

__all__ = [
    "AdjustmentLine",
    "ContractConfig",
    "ContractState",
    "Credit",
    "HostSummary",
    "Invoice",
    "InvoiceCredit",
    "InvoiceLine",
    "LeafSet",
    "LicensorConfig",
    "LogRef",
    "Period",
    "Royalty",
    "SegmentTerms",
    "SettlementError",
    "SettlementResult",
    "SettlementState",
    "Statement",
    "StatementLine",
    "StatementTotals",
    "TermsError",
    "Tier",
    "TierLine",
    "UsageAggregate",
    "Window",
    "aggregate",
    "aggregate_sql",
    "invoice_csv",
    "invoice_html",
    "invoice_json",
    "invoice_stem",
    "next_state",
    "settle",
    "sort_aggregates",
    "statement_csv",
    "statement_hash",
    "statement_html",
    "statement_json",
    "statement_stem",
    "validate_invoice",
    "validate_settlement",
    "validate_statement",
    "validate_summary",
    "validate_terms",
    "window_for",
    "write_files",
]
