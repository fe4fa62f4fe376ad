"""The feeder copies the ledger's records by seq, exactly once: count and digest prove it, on
SQLite and PostgreSQL. A failure between the insert and the cursor's move rolls both back."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy

from revshare.analytics import store as store_module
from revshare.analytics.feeder import feed, ledger_digest
from revshare.analytics.store import AnalyticsError, ColumnarStore, FeedPosition
from revshare.ledger.schema import usage_records
from revshare.ledger.store import Ledger
from tests.support.analytics_usage import month_of_usage


def test_feeds_in_order_and_resumes_where_it_stopped(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append_now(month_of_usage(250))
    path = tmp_path / "a.duckdb"
    with ColumnarStore.open(path) as store:
        first = feed(ledger, store, batch=40, until=100)
        assert (first.copied, first.position.copied_seq) == (100, 100)
        assert store.check().ok
    ledger.append_now(month_of_usage(30, month=2))
    with ColumnarStore.open(path) as store:
        rest = feed(ledger, store, batch=40)
        again = feed(ledger, store, batch=40)
        check = store.check()
    assert (rest.copied, again.copied) == (180, 0)
    assert check.ok and check.counted == 280 and check.position.copied_seq == 280
    assert ledger_digest(ledger, 280) == (280, check.position.digest)


def test_the_digest_sees_a_changed_row(sqlite_url: str, tmp_path: Path) -> None:
    ledger = Ledger(sqlite_url)
    ledger.migrate()
    ledger.append_now(month_of_usage(20))
    with ColumnarStore.open(tmp_path / "a.duckdb") as store:
        pos = feed(ledger, store).position
    with ledger.engine.begin() as conn:
        conn.execute(sqlalchemy.update(usage_records).where(usage_records.c.seq == 7).values(prompt_tokens=99999))
    assert ledger_digest(ledger, 20) != (20, pos.digest)
    ledger.close()


def test_a_failure_before_the_cursor_moves_leaves_nothing_behind(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.append_now(month_of_usage(100))
    path = tmp_path / "a.duckdb"
    with ColumnarStore.open(path) as store:
        feed(ledger, store, batch=30, until=30)

    def crash(self: ColumnarStore, to: FeedPosition) -> None:
        raise OSError("disk gone, after the insert and before the cursor")

    monkeypatch.setattr(store_module.ColumnarStore, "_move_cursor", crash)
    with ColumnarStore.open(path) as store, pytest.raises(OSError, match="disk gone"):
        feed(ledger, store, batch=30)
    monkeypatch.undo()
    with ColumnarStore.open(path) as store:
        check = store.check()
        assert check.ok and check.counted == 30  # the failed round's rows were rolled back with it
        assert feed(ledger, store, batch=30).copied == 70
        assert store.check().ok and store.check().counted == 100
    assert ledger_digest(ledger, 100) == (100, store_module.ColumnarStore.open(path, read_only=True).position().digest)


def test_a_store_fed_from_another_ledger_is_refused(tmp_path: Path) -> None:
    one, two = Ledger(f"sqlite:///{tmp_path / 'one.db'}"), Ledger(f"sqlite:///{tmp_path / 'two.db'}")
    for led in (one, two):
        led.migrate()
        led.append_now(month_of_usage(5))
    with ColumnarStore.open(tmp_path / "a.duckdb") as store:
        feed(one, store)
        with pytest.raises(AnalyticsError, match="another ledger"):
            feed(two, store)
    one.close()
    two.close()


def test_a_gap_in_the_ledger_stops_the_feed(sqlite_url: str, tmp_path: Path) -> None:
    ledger = Ledger(sqlite_url)
    ledger.migrate()
    ledger.append_now(month_of_usage(10))
    with ledger.engine.begin() as conn:
        conn.execute(sqlalchemy.delete(usage_records).where(usage_records.c.seq == 4))
    with ColumnarStore.open(tmp_path / "a.duckdb") as store:
        with pytest.raises(AnalyticsError, match="gap after seq 3"):
            feed(ledger, store, batch=2)
        assert store.position().copied_seq == 3 and store.check().ok
    ledger.close()


def test_check_finds_rows_added_behind_the_cursor(sqlite_url: str, tmp_path: Path) -> None:
    ledger = Ledger(sqlite_url)
    ledger.migrate()
    ledger.append_now(month_of_usage(10))
    path = tmp_path / "a.duckdb"
    with ColumnarStore.open(path) as store:
        feed(ledger, store)
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("INSERT INTO usage SELECT * FROM usage WHERE seq = 5")
    con.close()
    with ColumnarStore.open(path, read_only=True) as store:
        problems = " ".join(store.check().problems)
    assert "held twice" in problems and "the table holds 11" in problems and "digest" in problems
    ledger.close()


def test_a_missing_store_is_not_created_by_a_reader(tmp_path: Path) -> None:
    with pytest.raises(AnalyticsError, match="no analytics store"):
        ColumnarStore.open(tmp_path / "none.duckdb", read_only=True)
    assert not (tmp_path / "none.duckdb").exists()


def test_the_store_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "data" / "analytics.duckdb"
    ColumnarStore.open(path).close()
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
