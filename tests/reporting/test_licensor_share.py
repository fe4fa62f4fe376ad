"""The licensors' share per day, read from the rollups, adds up over a month to what the month's
statements earn, to the cent: marginal tiers (revshare.toml's contract) and late usage included."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from revshare.config import load_catalog
from revshare.ledger.store import Ledger
from revshare.monthend.periods import close_period
from revshare.monthend.settle_run import settle_period
from revshare.records.record import Outcome, UsageRecord
from revshare.reporting.fold import fold_new_records
from revshare.reporting.licensor_share import licensor_share
from revshare.settlement import Period
from tests.support.paths import REPO

PRICE = "gemma-3-270m@2026-01-01T00:00:00Z"
OCT, NOV = Period(2026, 10), Period(2026, 11)
_n = iter(range(1, 10**7))


def some(month: Period, n: int, rng: random.Random) -> list[UsageRecord]:
    """Records of `month` large enough that the share crosses the contract's first tier."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    records = []
    for _ in range(n):
        started = start + timedelta(seconds=rng.randrange(28 * 86400))
        outcome = rng.choice([Outcome.OK, Outcome.OK, Outcome.CLIENT_DISCONNECT, Outcome.REJECTED])
        prompt, completion = rng.randrange(1, 300_000_000), rng.randrange(0, 9_000_000)
        amount = (prompt * Decimal("0.10") + completion * Decimal("0.40")).scaleb(-6) if outcome.charged else 0
        records.append(UsageRecord(
            id=f"rec_ls{next(_n):09d}", started_at=started, ended_at=started, customer=rng.choice(["acme", "demo"]),
            key_id=rng.choice(["key_1", "key_2"]), model="gemma-3-270m", engine="local", endpoint="chat.completions",
            outcome=outcome, prompt_tokens=prompt, completion_tokens=completion, amount=Decimal(amount),
            currency="USD", price_version=PRICE if outcome.charged else ""))
    return records


def earned(ledger: Ledger, period: Period, out: Path) -> dict[tuple[str, str], Decimal]:
    run = settle_period(ledger, load_catalog(REPO / "revshare.toml"), period, out / period.label, settled_by="test")
    return {(s.licensor, s.currency): s.totals.earned for s in run.result.statements}


def shares(ledger: Ledger, start: date, end: date) -> dict[tuple[str, str], Decimal]:
    while fold_new_records(ledger, batch=41):
        pass
    found = licensor_share(ledger, load_catalog(REPO / "revshare.toml"), start=start, end=end)
    assert all(d.share >= 0 for d in found.days)  # more usage never earns less
    return {(lic, cur): amount for lic, cur, amount in found.totals()}


def test_a_months_daily_shares_add_up_to_its_statements_earnings(ledger: Ledger, tmp_path: Path) -> None:
    rng = random.Random(9)
    ledger.append_now(some(OCT, 120, rng))
    october = shares(ledger, date(2026, 10, 1), date(2026, 10, 31))
    close_period(ledger, OCT, closed_by="test")
    statement = earned(ledger, OCT, tmp_path)
    assert statement[("google", "USD")] > Decimal(100)  # past the first tier: the rate changes within the month
    assert october == statement

    ledger.append_now(some(OCT, 15, rng) + some(NOV, 90, rng))  # late October usage lands in November
    november = shares(ledger, date(2026, 11, 1), date(2026, 11, 30))
    assert shares(ledger, date(2026, 10, 1), date(2026, 10, 31)) == october  # a closed month keeps its figures
    close_period(ledger, NOV, closed_by="test")
    assert november == earned(ledger, NOV, tmp_path)


def test_a_day_is_its_months_earnings_so_far_less_the_day_before(ledger: Ledger) -> None:
    rng = random.Random(3)
    ledger.append_now(some(OCT, 60, rng))
    whole = shares(ledger, date(2026, 10, 1), date(2026, 10, 31))
    while fold_new_records(ledger):
        pass
    catalog = load_catalog(REPO / "revshare.toml")
    tail = licensor_share(ledger, catalog, start=date(2026, 10, 15), end=date(2026, 10, 31))
    head = licensor_share(ledger, catalog, start=date(2026, 10, 1), end=date(2026, 10, 14))
    assert {d.day for d in tail.days} <= {date(2026, 10, 15) + timedelta(days=i) for i in range(17)}
    both = dict(((lic, cur), amount) for lic, cur, amount in head.totals())
    for lic, cur, amount in tail.totals():
        both[(lic, cur)] = both.get((lic, cur), Decimal(0)) + amount
    assert both == whole  # a range that starts mid-month still counts the days before it in the rates


def test_a_share_brought_up_to_date_between_folds_equals_one_read_afresh(ledger: Ledger) -> None:
    """The kept month (re-read only where a fold changed it) answers as a first read does,
    with new days, more usage on days already seen, and late usage on the month's first day."""
    catalog = load_catalog(REPO / "revshare.toml")
    rng = random.Random(21)
    ledger.append_now(some(OCT, 20, rng))
    close_period(ledger, OCT, closed_by="test")
    for round_ in range(4):
        ledger.append_now(some(NOV, 25, rng) + (some(OCT, 5, rng) if round_ % 2 else []))  # OCT's now late
        while fold_new_records(ledger, batch=13):
            pass
        kept = licensor_share(ledger, catalog, start=date(2026, 10, 1), end=date(2026, 11, 30))
        afresh = Ledger(ledger.url)  # nothing kept for this handle
        try:
            first_read = licensor_share(afresh, catalog, start=date(2026, 10, 1), end=date(2026, 11, 30))
        finally:
            afresh.close()
        assert kept == first_read and kept.days
