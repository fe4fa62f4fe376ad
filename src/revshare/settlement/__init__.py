"""Settlement: licensor statements and customer invoices, as pure functions over frozen records.

Typical close (the month-end room sums the ledger's usage: `revshare.monthend.usage_sums`)::

    window = window_for(catalog.contracts, Period.parse("2026-01"),
                        closed_at=now, late_after=previous_close)
    rows = read_aggregates(ledger, window)  # or aggregate(records, window, appended_at)
    result = settle(catalog, window, rows, prior=SettlementState.from_json(saved), credits=credits)
    assert not validate_settlement(result)
    write_files(out_dir, result.statements, result.invoices)
    save(result.state.to_json())

This package imports no web framework, database driver or engine: a licensor's verifier uses it
with only the base dependencies. Of revshare it imports only `money`, `instants` and `records`.
"""

from __future__ import annotations

from revshare.settlement.adjustments import Credit
from revshare.settlement.aggregate import UsageAggregate, aggregate, merge_aggregates, sort_aggregates
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
    "invoice_csv",
    "invoice_html",
    "invoice_json",
    "invoice_stem",
    "merge_aggregates",
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
