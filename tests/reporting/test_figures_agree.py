"""The figures a console reads from the rollups equal the settled invoices to the cent: usage
billed in each period, late usage (appended after its month closed) on the next close, credits
on the close that takes them, rounding per invoice line; SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from revshare.config import Catalog, load_catalog
from revshare.ledger.store import Ledger
from revshare.monthend.credits import grant_credit
from revshare.monthend.periods import close_period
from revshare.monthend.settle_run import settle_period
from revshare.records.record import Outcome, UsageRecord
from revshare.reporting.fold import fold_new_records
from revshare.reporting.invoices import invoice_figures
from revshare.reporting.rollup import billing_period
from revshare.settlement import Period
from tests.support.paths import REPO

PRICE = "gemma-3-270m@2026-01-01T00:00:00Z"
OCT, NOV = Period(2026, 10), Period(2026, 11)
_n = iter(range(1, 10**7))


def rec(started: datetime, rng: random.Random) -> UsageRecord:
    outcome = rng.choice([Outcome.OK, Outcome.OK, Outcome.CLIENT_DISCONNECT, Outcome.ENGINE_ERROR])
    prompt, completion = rng.randrange(1, 5000), rng.randrange(0, 900)
    amount = (prompt * Decimal("0.10") + completion * Decimal("0.40")).scaleb(-6) if outcome.charged else Decimal(0)
    return UsageRecord(
        id=f"rec_fa{next(_n):09d}", started_at=started, ended_at=started, customer=rng.choice(["acme", "demo"]),
        key_id=rng.choice(["key_1", "key_2"]), model="gemma-3-270m", engine="local", endpoint="chat.completions",
        outcome=outcome, prompt_tokens=prompt, completion_tokens=completion, amount=amount, currency="USD",
        price_version=PRICE if outcome.charged else "")


def some(month: Period, n: int, rng: random.Random) -> list[UsageRecord]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    return [rec(start + timedelta(seconds=rng.randrange(28 * 86400)), rng) for _ in range(n)]


def prices(catalog: Catalog) -> dict[str, tuple[Decimal, Decimal]]:
    return {p.version: (p.input_per_million, p.output_per_million) for p in catalog.prices}


def figures(ledger: Ledger, catalog: Catalog, period: Period) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    while fold_new_records(ledger, batch=37):
        pass
    book = prices(catalog)
    found, _ = invoice_figures(ledger, period.label, book.__getitem__)
    return {(f.customer, f.currency): (f.subtotal, f.credits) for f in found}


def invoiced(ledger: Ledger, catalog: Catalog, period: Period, out: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    run = settle_period(ledger, catalog, period, out / period.label, settled_by="test")
    return {(i.customer, i.currency): (i.subtotal, i.credits_total) for i in run.result.invoices}


def test_console_figures_equal_the_invoices_with_late_usage_and_credits(ledger: Ledger, tmp_path: Path) -> None:
    catalog = load_catalog(REPO / "revshare.toml")
    rng = random.Random(2026)
    ledger.append_now(some(OCT, 150, rng))
    fold_new_records(ledger, batch=20)  # folded before and after the close alike
    close_period(ledger, OCT, closed_by="test")
    ledger.append_now(some(OCT, 40, rng))  # late: October's, appended after its close
    assert figures(ledger, catalog, OCT) == invoiced(ledger, catalog, OCT, tmp_path)

    ledger.append_now(some(NOV, 120, rng))
    grant_credit(ledger, catalog, customer="acme", amount="0.02", reason="outage", created_by="test")
    before_close = figures(ledger, catalog, NOV)
    assert before_close[("acme", "USD")][1] == Decimal("0.02")
    close_period(ledger, NOV, closed_by="test")
    ledger.append_now(some(NOV, 30, rng) + some(OCT, 5, rng))  # late for December
    after = figures(ledger, catalog, NOV)
    assert after == before_close  # what was appended after the close is not November's
    assert after == invoiced(ledger, catalog, NOV, tmp_path)
    december, folded = invoice_figures(ledger, "2026-12", prices(catalog).__getitem__)
    assert folded == ledger.count()
    charged_late = [r for r in ledger.records(after_seq=ledger.count() - 35) if r.outcome.charged]
    assert sum(f.requests for f in december) == len(charged_late) > 0


def test_the_billing_period_follows_the_closes_seqs() -> None:
    closes = {"2026-10": 100, "2026-11": 250}
    assert billing_period("2026-10", 100, closes) == "2026-10"
    assert billing_period("2026-10", 101, closes) == "2026-11"  # late: the next close takes it
    assert billing_period("2026-10", 251, closes) == "2026-12"  # after every close: the next to come
    assert billing_period("2026-11", 200, closes) == "2026-11"
    assert billing_period("2026-12", 5, closes) == "2026-12"  # an open month keeps its own
    assert billing_period("2026-09", 50, closes) == "2026-10"  # before the first close: its late usage
    assert billing_period("2027-01", 1, {}) == "2027-01"
