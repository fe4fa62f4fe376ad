"""revshare.monthend.periods on SQLite and PostgreSQL: the cut-off, credits, pieces, the chain."""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select

from revshare.config import Catalog
from revshare.ledger.schema import usage_records
from revshare.ledger.store import Ledger
from revshare.monthend.credits import credits_for, grant_credit
from revshare.monthend.periods import SettlementLedgerError, close_period, closed_period
from revshare.monthend.settle_run import issued_documents, settle_period
from revshare.monthend.usage_sums import aggregate_sql, read_aggregates
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import LogRef, Period, UsageAggregate, aggregate, sort_aggregates, window_for
from tests.support.paths import REPO

PRICE = "gemma-3-270m@2026-01-01T00:00:00Z"
_n = iter(range(1, 10**7))


def rec(started: datetime, customer: str = "acme", prompt: int = 1000, completion: int = 100,
        outcome: Outcome = Outcome.OK, key: str = "key_1") -> UsageRecord:
    amount = (prompt * Decimal("0.10") + completion * Decimal("0.40")).scaleb(-6) if outcome.charged else Decimal(0)
    return UsageRecord(
        id=f"rec_pl{next(_n):09d}", started_at=started, ended_at=started, customer=customer, key_id=key,
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=outcome, prompt_tokens=prompt,
        completion_tokens=completion, amount=amount, currency="USD", price_version=PRICE if outcome.charged else "")


def test_migration_creates_the_tables_and_goes_back(ledger: Ledger) -> None:
    names = set(inspect(ledger.engine).get_table_names())
    assert {"settlement_periods", "settlement_credits", "settlement_states", "settlement_documents"} <= names
    cfg = Config()
    cfg.set_main_option("script_location", str(REPO / "src/revshare/ledger/migrations"))
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert "settlement_periods" not in set(inspect(ledger.engine).get_table_names())
    ledger.migrate()
    assert "settlement_periods" in set(inspect(ledger.engine).get_table_names())


def test_pieces_read_in_parallel_equal_the_reference(ledger: Ledger, demo: Catalog) -> None:
    rnd = random.Random(7)
    jan = Period(2026, 1)

    def some(n: int, month: int) -> list[UsageRecord]:
        return [rec(datetime(2026, month, 1, tzinfo=UTC) + timedelta(seconds=rnd.randrange(28 * 86400)),
                    customer=rnd.choice(["acme", "demo"]), prompt=rnd.randrange(5000), completion=rnd.randrange(900),
                    outcome=rnd.choice([Outcome.OK, Outcome.OK, Outcome.ENGINE_ERROR, Outcome.CLIENT_DISCONNECT]),
                    key=rnd.choice(["k1", "k2"])) for _ in range(n)]

    ledger.append_now(some(150, 1))
    jan_close = close_period(ledger, jan, closed_by="test")
    ledger.append_now(some(40, 1) + some(150, 2))  # 40 late January records
    feb_close = close_period(ledger, jan.next(), closed_by="test")
    assert feb_close.late_after == jan_close.cutoff
    records = ledger.records()
    with ledger.engine.connect() as conn:
        appended = {r.id: _utc(r.appended_at) for r in conn.execute(select(usage_records.c.id, usage_records.c.appended_at))}
    for closed, after_seq in ((jan_close, None), (feb_close, jan_close.last_seq)):
        window = window_for(demo.contracts, closed.period, closed_at=closed.cutoff, late_after=closed.late_after)
        want = aggregate(records, window, appended)
        with ledger.engine.connect() as conn:
            whole = sort_aggregates(UsageAggregate(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5]), int(r[6]),
                                                   int(r[7]), int(r[8])) for r in conn.execute(aggregate_sql(window)))
        seen: list[tuple[int, int]] = []

        def note(done: int, total: int, seen: list[tuple[int, int]] = seen) -> None:
            seen.append((done, total))

        got = read_aggregates(ledger, window, late_after_seq=after_seq, progress=note)
        assert got == want == whole
        assert seen[-1][0] == seen[-1][1] and len(seen) == seen[-1][1]
    assert any(a.late for a in read_aggregates(
        ledger, window_for(demo.contracts, jan.next(), closed_at=feb_close.cutoff, late_after=jan_close.cutoff),
        late_after_seq=jan_close.last_seq))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_the_cut_off_splits_concurrent_appends_by_seq(ledger: Ledger, ledger_url: str) -> None:
    """Appends racing a close: a record is in the close iff its seq <= last_seq iff appended before the cut-off."""
    writer = Ledger(ledger_url)
    stop = threading.Event()

    def append() -> None:
        while not stop.is_set():
            writer.append_now([rec(datetime(2026, 6, 10, tzinfo=UTC)) for _ in range(3)])

    thread = threading.Thread(target=append)
    thread.start()
    try:
        while ledger.count() < 30:
            pass
        closed = close_period(ledger, Period(2026, 6), closed_by="test")
        while ledger.count() < closed.last_seq + 30:
            pass
    finally:
        stop.set()
        thread.join()
        writer.close()
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(usage_records.c.seq, usage_records.c.appended_at)).all()
    assert any(s > closed.last_seq for s, _ in rows) and any(s <= closed.last_seq for s, _ in rows)
    for seq, appended_at in rows:
        assert (seq <= closed.last_seq) == (_utc(appended_at) < closed.cutoff), (seq, appended_at, closed)


def test_credits_land_in_the_close_open_when_granted(ledger: Ledger, demo: Catalog) -> None:
    ledger.append_now([rec(datetime(2026, 7, 3, tzinfo=UTC))])
    before = grant_credit(ledger, demo, customer="acme", amount="1.5", reason="outage", created_by="t")
    assert before.amount == Decimal("1.50") and str(before.amount) == "1.50"
    jul = close_period(ledger, Period(2026, 7), closed_by="t")
    after = grant_credit(ledger, demo, customer="demo", amount="2", reason="promo", kind="discount",
                         model="gemma-3-270m", refers_to="2026-07", created_by="t")
    aug = close_period(ledger, Period(2026, 8), closed_by="t")
    assert [c.id for c in credits_for(ledger, jul)] == [before.id]
    assert [(c.id, c.kind, c.model, c.refers_to) for c in credits_for(ledger, aug)] == [
        (after.id, "discount", "gemma-3-270m", "2026-07")]
    with pytest.raises(SettlementLedgerError, match="never a float"):
        grant_credit(ledger, demo, customer="acme", amount=1.5, reason="r", created_by="t")  # type: ignore[arg-type]


def test_the_statement_chain_covers_the_log_reference(ledger: Ledger, demo: Catalog, tmp_path: Path) -> None:
    ledger.append_now([rec(datetime(2026, 9, 2, tzinfo=UTC), prompt=10_000_000)])
    close_period(ledger, Period(2026, 9), closed_by="t")
    close_period(ledger, Period(2026, 10), closed_by="t")
    ref = LogRef("revshare-demo/log", 1, "ab" * 32, 1, 1)
    sep = settle_period(ledger, demo, Period(2026, 9), tmp_path / "sep", settled_by="t", log=ref)
    assert not sep.rerun and sep.requests == 1 and sep.result.statements[0].log == ref
    issued = {d.name: d for d in issued_documents(ledger, Period(2026, 9))}
    st = issued["statement-google-google-gemma-2026-09"]
    assert st.sha256 == hashlib.sha256(st.body.encode()).hexdigest()
    assert (tmp_path / "sep" / f"{st.name}.json").read_bytes() == st.body.encode() + b"\n"
    octo = settle_period(ledger, demo, Period(2026, 10), tmp_path / "oct", settled_by="t")
    assert octo.result.statements[0].previous_hash == st.sha256
    assert octo.result.statements[0].totals.recoupment_before == Decimal("4.90")  # 5.00 - 10% of 1.00 (10M tokens at 0.10/M)
    assert closed_period(ledger, Period(2026, 10)) is not None
    with pytest.raises(SettlementLedgerError, match="different documents"):
        settle_period(ledger, demo, Period(2026, 9), tmp_path / "again", settled_by="t")  # without the log ref
