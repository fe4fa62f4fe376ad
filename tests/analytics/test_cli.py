"""`revshare analytics feed|status|verify` and `revshare settle --usage`, as docs/SETTLEMENT.md shows them.

The demo catalog (revshare.toml) keeps its data dir at `.revshare`, relative to the working
directory: each test runs in its own, so the analytics store is the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from revshare.analytics.store import ColumnarStore
from revshare.cli import app
from revshare.ledger.store import Ledger
from tests.support.analytics_usage import month_of_usage, usage
from tests.support.paths import REPO

runner = CliRunner()


@pytest.fixture
def ledger(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("REVSHARE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REVSHARE_CONFIG", str(REPO / "revshare.toml"))
    monkeypatch.chdir(tmp_path)
    led = Ledger(sqlite_url)
    led.migrate()
    yield led
    led.close()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    return result.output


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_feed_then_settle_from_the_store(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append_now(month_of_usage(300))
    ok("period", "close", "2026-01")
    assert "no analytics store" in refused("analytics", "status")
    fed = ok("analytics", "feed")
    assert "copied 300 record(s)" in fed and "holds seq 1..300" in fed
    assert "copied 0 record(s)" in ok("analytics", "feed")
    assert "seq 1..300" in ok("analytics", "status") and "(0 record(s) behind)" in ok("analytics", "status")
    assert "equal to the ledger's, ok" in ok("analytics", "verify", "--against-ledger")

    by_store = ok("settle", "--period", "2026-01", "--out", str(tmp_path / "store"))
    assert "usage read from the analytics store: the analytics store" in by_store
    by_ledger = ok("settle", "--period", "2026-01", "--out", str(tmp_path / "ledger"), "--usage", "ledger")
    assert "usage read from the ledger: asked for (--usage ledger)" in by_ledger
    assert files(tmp_path / "store") == files(tmp_path / "ledger")


def test_settle_says_why_it_read_the_ledger_and_columnar_refuses(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append_now(month_of_usage(20))
    ok("analytics", "feed")
    ledger.append_now([usage(datetime(2026, 1, 9, tzinfo=UTC) + timedelta(hours=i)) for i in range(5)])
    ok("period", "close", "2026-01")
    assert "ledger is at seq 25 (5 record(s) behind)" in ok("analytics", "status")
    out = ok("settle", "--period", "2026-01", "--out", str(tmp_path / "auto"))
    assert "usage read from the ledger: the analytics store holds seq 1..20, the close needs 1..25" in out
    assert "holds seq 1..20, the close needs 1..25" in refused(
        "settle", "--period", "2026-01", "--out", str(tmp_path / "x"), "--usage", "columnar")
    assert "want auto, columnar or ledger" in refused(
        "settle", "--period", "2026-01", "--out", str(tmp_path / "x"), "--usage", "duck")


def test_verify_finds_a_tampered_store(ledger: Ledger) -> None:
    ledger.append_now(month_of_usage(10))
    ok("analytics", "feed")
    con = duckdb.connect(".revshare/analytics.duckdb")
    con.execute("UPDATE usage SET prompt_tokens = prompt_tokens + 1 WHERE seq = 3")
    con.close()
    assert "digest" in refused("analytics", "verify")



def test_feed_follow_keeps_the_store_current_until_interrupted(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append_now(month_of_usage(10))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    follower = subprocess.Popen([sys.executable, "-m", "revshare.cli", "analytics", "feed", "--follow"], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert follower.stdout is not None
        assert "holds seq 1..10" in follower.stdout.readline()
        ledger.append_now(month_of_usage(5, month=2))
        assert "holds seq 1..15" in follower.stdout.readline()  # a later round, [analytics] interval_s on
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        if follower.stdout is not None:
            follower.stdout.close()
    with ColumnarStore.open(tmp_path / ".revshare" / "analytics.duckdb", read_only=True) as store:  # free again
        assert store.check().ok and store.position().copied_seq == 15
