"""The validators catch a tampered statement or invoice (negative cases named by their mutation)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from revshare.settlement import Period, aggregate, settle, validate_invoice, validate_statement, window_for
from tests.support.settlement_builders import M, catalog, record

CAT = catalog([{"id": "meta", "licensor": "meta", "lineage": "llama-3", "share": "0.15", "effective_from": "2025-01-01",
                "minimum_guarantee": "1.00"}])
WINDOW = window_for(CAT.contracts, Period(2026, 1))
RESULT = settle(CAT, WINDOW, aggregate([record(CAT, "2026-01-02", prompt=3 * M, completion=M)], WINDOW))
(STATEMENT,) = RESULT.statements
(INVOICE,) = RESULT.invoices


def test_untouched_documents_validate() -> None:
    assert validate_statement(STATEMENT) == [] and validate_invoice(INVOICE) == []


def test_inflated_line_share() -> None:
    bad = replace(STATEMENT, lines=(replace(STATEMENT.lines[0], share=Decimal("9.99")), *STATEMENT.lines[1:]))
    (err,) = validate_statement(bad)
    assert "usage_share is 0.75, want 10.29" in err.message


def test_amount_due_without_true_up() -> None:
    bad = replace(STATEMENT, totals=replace(STATEMENT.totals, amount_due=Decimal("0.75")))
    assert any("amount_due is 0.75, want 1.00" in e.message for e in validate_statement(bad))


def test_invoice_total_off_by_a_cent() -> None:
    bad = replace(INVOICE, total_due=INVOICE.total_due + Decimal("0.01"))
    (err,) = validate_invoice(bad)
    assert err.message == f"invoice {INVOICE.number}: total_due is 5.01, want 5.00"
