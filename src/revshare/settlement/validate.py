"""Invariants of a close as small `validate_*` functions returning error values (never raising).

A licensor's verifier runs the same functions on the statements it receives.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from revshare.settlement.errors import SettlementError
from revshare.settlement.invoice import Invoice
from revshare.settlement.settle import HostSummary, SettlementResult
from revshare.settlement.statement import Statement

__all__ = ["validate_invoice", "validate_settlement", "validate_statement", "validate_summary"]

ZERO = Decimal(0)


def _err(where: str, what: str, got: Decimal, want: Decimal) -> SettlementError:
    return SettlementError("invariant", f"{where}: {what} is {got}, want {want}")


def validate_statement(s: Statement) -> list[SettlementError]:
    """Lines sum to totals; basis = gross - excluded per line; due = earned + true_up - recouped."""
    where = f"statement {s.contract} {s.period}"
    t = s.totals
    errors: list[SettlementError] = []
    for line in s.lines:
        if line.basis != line.gross - line.excluded:
            errors.append(_err(f"{where} line {line.model}/{line.direction}", "basis", line.basis,
                               line.gross - line.excluded))
    checks = [
        ("gross", t.gross, sum((x.gross for x in s.lines), ZERO)),
        ("excluded", t.excluded, sum((x.excluded for x in s.lines), ZERO)),
        ("basis", t.basis, sum((x.basis for x in s.lines), ZERO)),
        ("usage_share", t.usage_share, sum((x.share for x in s.lines), ZERO)),
        ("adjustments_basis", t.adjustments_basis, sum((a.basis for a in s.adjustments), ZERO)),
        ("adjustments_share", t.adjustments_share, sum((a.share for a in s.adjustments), ZERO)),
        ("earned", t.earned, t.usage_share + t.adjustments_share),
        ("amount_due", t.amount_due, t.earned + t.true_up - t.recouped),
        ("true_up", t.true_up, max(ZERO, t.minimum_guarantee - t.earned)),
    ]
    if s.tiers:  # the tier rows split the earnings of the tiered segments (a contract may change kind mid-month)
        tiered = {seg.index for seg in s.segments if seg.kind == "tiers"}
        in_tiers = (sum((x.share for x in s.lines if x.segment in tiered), ZERO)
                    + sum((a.share for a in s.adjustments if a.segment in tiered), ZERO))
        checks.append(("tier shares", sum((x.share for x in s.tiers), ZERO), in_tiers))
    for name, got, want in checks:
        if got != want:
            errors.append(_err(where, name, got, want))
    if t.recouped < 0 or t.recouped > t.recoupment_before:
        errors.append(_err(where, "recouped", t.recouped, min(t.recoupment_before, max(ZERO, t.recouped))))
    return errors


def validate_invoice(i: Invoice) -> list[SettlementError]:
    where = f"invoice {i.number}"
    checks = [
        ("subtotal", i.subtotal, sum((x.amount for x in i.lines), ZERO)),
        ("credits_total", i.credits_total, sum((c.amount for c in i.credits), ZERO)),
        ("total_due", i.total_due, i.subtotal - i.credits_total),
    ]
    return [_err(where, name, got, want) for name, got, want in checks if got != want]


def validate_summary(
    summary: HostSummary, statements: Sequence[Statement], invoices: Sequence[Invoice]
) -> list[SettlementError]:
    """Licensors' amounts due + credits + host net == gross, and each side ties to its documents."""
    c = summary.currency
    where = f"host summary {c}"
    checks = [
        ("gross", summary.gross, sum((i.subtotal for i in invoices if i.currency == c), ZERO)),
        ("credits", summary.credits, sum((i.credits_total for i in invoices if i.currency == c), ZERO)),
        ("licensors_due", summary.licensors_due,
         sum((s.totals.amount_due for s in statements if s.currency == c), ZERO)),
        ("licensors_due + credits + host_net", summary.licensors_due + summary.credits + summary.host_net,
         summary.gross),
    ]
    return [_err(where, name, got, want) for name, got, want in checks if got != want]


def _gross_ties(s: Statement, invoices: Sequence[Invoice]) -> list[SettlementError]:
    """Gross per (model, direction), summed over segments, equals the invoices' current usage.

    Only checkable when one scope is in force over the whole period (else part of the usage
    is rightly outside the statement).
    """
    if any(seg.kind == "none" or seg.scope != s.segments[0].scope for seg in s.segments):
        return []
    stated: dict[tuple[str, str], Decimal] = {}
    for line in s.lines:
        stated[(line.model, line.direction)] = stated.get((line.model, line.direction), ZERO) + line.gross
    errors = []
    for (model, direction), gross in sorted(stated.items()):
        billed = sum((x.amount for i in invoices if i.currency == s.currency for x in i.lines
                      if x.model == model and x.direction == direction and not x.late), ZERO)
        if billed != gross:
            errors.append(_err(f"statement {s.contract} {s.period} line {model}/{direction}",
                               "gross (vs invoices)", gross, billed))
    return errors


def validate_settlement(result: SettlementResult) -> list[SettlementError]:
    """Every invariant of a close."""
    errors: list[SettlementError] = []
    for s in result.statements:
        errors += validate_statement(s)
        errors += _gross_ties(s, result.invoices)
    for i in result.invoices:
        errors += validate_invoice(i)
    for summary in result.summaries:
        errors += validate_summary(summary, result.statements, result.invoices)
    return errors
