"""Worked examples, small enough to check by hand; docs/SETTLEMENT.md walks through each one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from revshare.records.record import Outcome
from revshare.settlement import (
    Credit,
    Period,
    SettlementState,
    aggregate,
    settle,
    validate_settlement,
    window_for,
)
from tests.support.settlement_builders import M, catalog, record


def D(text: str) -> Decimal:
    return Decimal(text)


def close(cat, period: str, records, prior=None, credits=(), appended=None, closed_at=None, late_after=None):  # type: ignore[no-untyped-def]
    window = window_for(cat.contracts, Period.parse(period), closed_at=closed_at, late_after=late_after)
    result = settle(cat, window, aggregate(records, window, appended), prior=prior, credits=credits)
    assert validate_settlement(result) == []
    assert [e for e in result.errors if e.level == "error"] == []
    return result


def test_tiers_crossing_a_breakpoint() -> None:
    # 10% of the first 1000.00 of basis, 5% above. Alice: 600M input (600.00) + 300M output (600.00).
    cat = catalog([{"id": "meta-tiered", "licensor": "meta", "lineage": "llama-3", "effective_from": "2025-01-01",
                    "tiers": [{"up_to": "1000", "share": "0.10"}, {"share": "0.05"}]}])
    r = close(cat, "2026-01", [record(cat, "2026-01-05", prompt=600 * M, completion=300 * M)])
    (s,) = r.statements
    assert s.totals.gross == D("1200.00")
    assert [(t.lower, t.upper, t.basis, t.share) for t in s.tiers] == [
        (D("0"), D("1000"), D("1000.00"), D("100.00")),
        (D("1000"), None, D("200.00"), D("10.00")),
    ]
    assert [(x.direction, x.basis, x.share) for x in s.lines] == [
        ("input", D("600.00"), D("55.00")), ("output", D("600.00"), D("55.00"))]
    assert s.totals.amount_due == D("110.00")
    assert r.summaries[0].host_net == D("1090.00")


def test_recoupable_guarantee_over_three_periods() -> None:
    # 10% of gemma revenue, at least 100.00 a month, recoupable.
    cat = catalog([{"id": "google-mg", "licensor": "google", "models": ["gemma"], "share": "0.10",
                    "minimum_guarantee": "100.00", "recoupable": True, "effective_from": "2025-01-01"}])
    state = SettlementState()
    got = []
    for period, revenue in (("2026-01", 300), ("2026-02", 1500), ("2026-03", 1300)):
        r = close(cat, period, [record(cat, f"{period}-10", model="gemma", prompt=revenue * M)], prior=state)
        (s,) = r.statements
        got.append((s.number, s.totals.earned, s.totals.true_up, s.totals.recouped, s.totals.amount_due,
                    s.totals.recoupment_after))
        assert s.previous_hash == (None if s.number == 1 else state.contracts[0].last_hash)
        state = r.state
    assert got == [
        (1, D("30.00"), D("70.00"), D("0"), D("100.00"), D("70.00")),
        (2, D("150.00"), D("0"), D("50.00"), D("100.00"), D("20.00")),
        (3, D("130.00"), D("0"), D("20.00"), D("110.00"), D("0.00")),
    ]


def test_refund_and_late_usage_after_close_land_in_next_period() -> None:
    # 20% of net llama-3 revenue. January closed on Feb 1 at 06:00 with 500.00 of usage.
    cat = catalog([{"id": "meta-net", "licensor": "meta", "models": ["llama-3"], "basis": "net", "share": "0.20",
                    "effective_from": "2025-01-01"}])
    jan_close = datetime(2026, 2, 1, 6, tzinfo=UTC)
    feb_close = datetime(2026, 3, 1, 6, tzinfo=UTC)
    jan = record(cat, "2026-01-20", prompt=500 * M)
    late = record(cat, "2026-01-31T23:59:59", prompt=100 * M)  # appended after January's close
    feb = record(cat, "2026-02-10", prompt=1000 * M)
    appended = {jan.id: jan.started_at, late.id: datetime(2026, 2, 2, tzinfo=UTC), feb.id: feb.started_at}
    r1 = close(cat, "2026-01", [jan, late, feb], appended=appended, closed_at=jan_close)
    assert r1.statements[0].totals.amount_due == D("100.00")
    refund = Credit("cr-1", "alice", D("50.00"), "USD", datetime(2026, 2, 3, tzinfo=UTC),
                    "January outage", kind="refund", model="llama-3", refers_to="2026-01")
    r2 = close(cat, "2026-02", [jan, late, feb], prior=r1.state, credits=[refund], appended=appended,
               closed_at=feb_close, late_after=jan_close)
    (s,) = r2.statements
    assert s.totals.usage_share == D("200.00")
    assert [(a.kind, a.amount, a.basis, a.share) for a in s.adjustments] == [
        ("late_usage", D("100.00"), D("100.00"), D("20.00")),
        ("refund", D("-50.00"), D("-50.00"), D("-10.00")),
    ]
    assert s.totals.amount_due == D("210.00")
    (inv,) = r2.invoices
    assert [(x.late, x.amount) for x in inv.lines] == [(False, D("1000.00")), (True, D("100.00"))]
    assert (inv.subtotal, inv.credits_total, inv.total_due) == (D("1100.00"), D("50.00"), D("1050.00"))
    assert r2.summaries[0].host_net == D("1050.00") - D("210.00")


def test_fine_tune_with_two_stacked_licensors() -> None:
    # Meta takes 15% of everything built on llama-3, Acme 10% of its fine-tune.
    cat = catalog([
        {"id": "meta-llama", "licensor": "meta", "lineage": "llama-3", "share": "0.15", "effective_from": "2025-01-01"},
        {"id": "acme-ft", "licensor": "acme", "models": ["llama-ft"], "share": "0.10", "effective_from": "2025-01-01"},
    ])
    r = close(cat, "2026-01", [record(cat, "2026-01-07", customer="bob", model="llama-ft", prompt=100 * M,
                                      completion=50 * M)])
    due = {s.licensor: s.totals.amount_due for s in r.statements}
    assert due == {"meta": D("60.00"), "acme": D("40.00")}
    assert r.summaries[0].gross == D("400.00")
    assert r.summaries[0].host_net == D("300.00")


def test_exempt_customer() -> None:
    cat = catalog([{"id": "meta-llama", "licensor": "meta", "models": ["llama-*"], "share": "0.15",
                    "exempt_customers": ["research-lab"], "effective_from": "2025-01-01"}])
    r = close(cat, "2026-01", [
        record(cat, "2026-01-03", prompt=200 * M),
        record(cat, "2026-01-04", customer="research-lab", prompt=100 * M),
    ])
    (line,) = r.statements[0].lines
    assert (line.gross, line.excluded, line.basis, line.share) == (D("300.00"), D("100.00"), D("200.00"), D("30.00"))
    assert (line.tokens, line.excluded_tokens) == (300 * M, 100 * M)


def test_contract_changing_mid_month_splits_the_period() -> None:
    # 10% (guarantee 31.00/month) until Jan 16, then 20% (guarantee 62.00/month).
    cat = catalog([
        {"id": "meta", "licensor": "meta", "models": ["llama-3"], "share": "0.10", "minimum_guarantee": "31.00",
         "effective_from": "2025-01-01", "effective_to": "2026-01-16"},
        {"id": "meta", "licensor": "meta", "models": ["llama-3"], "share": "0.20", "minimum_guarantee": "62.00",
         "effective_from": "2026-01-16"},
    ])
    r = close(cat, "2026-01", [record(cat, "2026-01-10", prompt=100 * M), record(cat, "2026-01-20", prompt=100 * M)])
    (s,) = r.statements
    assert [(x.segment, x.gross, x.share) for x in s.lines] == [(0, D("100.00"), D("10.00")), (1, D("100.00"), D("20.00"))]
    # Guarantee prorated by time in force: 31 x 15/31 + 62 x 16/31 = 15 + 32.
    assert (s.totals.minimum_guarantee, s.totals.earned, s.totals.true_up, s.totals.amount_due) == (
        D("47.00"), D("30.00"), D("17.00"), D("47.00"))


def test_per_token_royalty_and_uncharged_outcomes() -> None:
    cat = catalog([{"id": "meta-royalty", "licensor": "meta", "lineage": "llama-3", "effective_from": "2025-01-01",
                    "royalty": [{"models": "llama-*", "direction": "output", "per_million": "0.50"}]}])
    r = close(cat, "2026-01", [
        record(cat, "2026-01-02", prompt=10 * M, completion=30 * M),
        record(cat, "2026-01-02", prompt=10 * M, completion=30 * M, outcome=Outcome.ENGINE_ERROR),
    ])
    (s,) = r.statements
    assert [(x.direction, x.tokens, x.share) for x in s.lines] == [("input", 10 * M, D("0.00")),
                                                                 ("output", 30 * M, D("15.00"))]
