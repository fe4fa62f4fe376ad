"""A feeder killed with SIGKILL in the middle of copying leaves the store at a committed round;
the next feed resumes from there, and the store then holds exactly the ledger's seq 1..N."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from revshare.analytics.feeder import feed, ledger_digest
from revshare.analytics.store import ColumnarStore
from revshare.ledger.store import Ledger
from tests.support.analytics_usage import month_of_usage
from tests.support.paths import REPO

CHILD = textwrap.dedent("""
    import sys
    from revshare.analytics.feeder import feed
    from revshare.analytics.store import ColumnarStore
    from revshare.ledger.store import Ledger

    ledger = Ledger(sys.argv[1])
    with ColumnarStore.open(sys.argv[2]) as store:
        feed(ledger, store, batch=250, on_round=lambda p: print(p.copied_seq, flush=True))
""")


def test_a_killed_feeder_resumes_without_gaps_or_doubles(sqlite_url: str, tmp_path: Path) -> None:
    ledger = Ledger(sqlite_url)
    ledger.migrate()
    for _ in range(4):
        ledger.append_now(month_of_usage(5000))
    path = tmp_path / "a.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen([sys.executable, "-c", CHILD, sqlite_url, str(path)], stdout=subprocess.PIPE, text=True,
                             env=env)
    assert child.stdout is not None
    rounds = [child.stdout.readline() for _ in range(6)]  # six rounds committed, the seventh under way
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL and rounds[-1].strip() == "1500"

    with ColumnarStore.open(path) as store:
        killed = store.check()
        assert killed.ok, killed.problems
        assert 1500 <= killed.position.copied_seq < 20_000 and killed.position.copied_seq % 250 == 0
        assert ledger_digest(ledger, killed.position.copied_seq) == (killed.counted, killed.position.digest)
        resumed = feed(ledger, store, batch=3000)
        after = store.check()
    assert resumed.copied == 20_000 - killed.position.copied_seq
    assert after.ok and after.counted == 20_000
    assert ledger_digest(ledger, 20_000) == (20_000, after.position.digest)
    ledger.close()
