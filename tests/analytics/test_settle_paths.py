"""`settle` gives byte-identical statements and invoices whichever path summed the usage.

A property test settles random months (two of them, with a contract version changing inside each,
late records of the first month arriving after its close, credits, and end users: the statements'
active users) through the ledger path and
through the analytics store, and compares every file. Then: the store is used only when it holds
every record up to the close, and `revshare settle` falls back (or refuses) and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revshare.analytics.feeder import feed
from revshare.analytics.store import ColumnarStore
from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.monthend.credits import grant_credit
from revshare.monthend.periods import SettlementLedgerError, close_period
from revshare.monthend.settle_run import settle_period
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period
from tests.support.paths import REPO
from tests.support.settlement_builders import catalog, record

JAN, FEB = Period(2026, 1), Period(2026, 2)


def catalog_in(folder: Path, jan_change: int, feb_change: int) -> Catalog:
    """Contract versions that change inside January and inside February (the day given)."""
    jan_cut, feb_cut = f"2026-01-{jan_change:02d}T06:00:00", f"2026-02-{feb_change:02d}T18:00:00"
    return catalog([
        {"id": "m", "licensor": "meta", "models": ["llama-3"], "share": "0.10", "effective_from": "2025-01-01",
         "effective_to": jan_cut, "minimum_guarantee": "2", "recoupable": True},
        {"id": "m", "licensor": "meta", "models": ["llama-3"], "share": "0.20", "effective_from": jan_cut,
         "minimum_guarantee": "3", "recoupable": True},
        {"id": "a", "licensor": "acme", "models": ["llama-ft"], "share": "0.30", "effective_from": "2025-01-01"},
        {"id": "g", "licensor": "google", "models": ["gemma"], "share": "0.05", "effective_from": "2025-01-01",
         "effective_to": feb_cut},
        {"id": "g", "licensor": "google", "models": ["gemma"], "share": "0.07", "effective_from": feb_cut},
    ], server={"host_name": "example-host", "data_dir": str(folder)})


Drawn = tuple[int, str, str, int, int, str, Outcome, str]
usage = st.tuples(st.integers(0, 28 * 86400 - 1), st.sampled_from(["alice", "bob", "research-lab"]),
                  st.sampled_from(["llama-3", "llama-ft", "gemma"]), st.integers(0, 400_000), st.integers(0, 90_000),
                  st.sampled_from(["k1", "k2"]), st.sampled_from([Outcome.OK, Outcome.OK, Outcome.CLIENT_DISCONNECT,
                                                                  Outcome.ENGINE_ERROR]),
                  st.sampled_from(["", "", "a" * 64, "b" * 64, "c" * 64]))  # end users: a hash, or none (the key)


def records(cat: Catalog, month: Period, drawn: list[Drawn]) -> list[UsageRecord]:
    return [replace(record(cat, month.start + timedelta(seconds=s, microseconds=s % 997), customer=c, model=m,
                           prompt=p, completion=q, key_id=f"{c}-{k}", outcome=o), end_user=e)
            for s, c, m, p, q, k, o, e in drawn]


def same_files(one: Path, other: Path) -> None:
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in other.iterdir()) and names
    for name in names:
        assert (one / name).read_bytes() == (other / name).read_bytes(), name


@settings(max_examples=12, deadline=None)
@given(jan=st.lists(usage, max_size=30), late=st.lists(usage, max_size=8), feb=st.lists(usage, max_size=30),
       credits=st.lists(st.tuples(st.sampled_from(["alice", "bob"]), st.sampled_from([None, "llama-3", "gemma"]),
                                  st.integers(1, 5000)), max_size=3),
       jan_change=st.integers(2, 27), feb_change=st.integers(2, 27))
def test_both_paths_write_the_same_bytes(
    jan: list[Drawn], late: list[Drawn], feb: list[Drawn], credits: list[tuple[str, str | None, int]],
    jan_change: int, feb_change: int,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cat = catalog_in(tmp, jan_change, feb_change)
        ledger = Ledger(cat.database_url())
        ledger.migrate()
        if jan:
            ledger.append_now(records(cat, JAN, jan))
        close_period(ledger, JAN, closed_by="test")
        if late:  # January's records, appended after its close: late usage of February
            ledger.append_now(records(cat, JAN, late))
        if feb:
            ledger.append_now(records(cat, FEB, feb))
        for customer, model, cents in credits:
            grant_credit(ledger, cat, customer=customer, amount=f"{cents / 100:.2f}", reason="outage",
                         created_by="test", model=model)
        close_period(ledger, FEB, closed_by="test")
        with ColumnarStore.open(cat.analytics_path()) as store:
            feed(ledger, store, batch=7)
        for month in (JAN, FEB):
            by_ledger = settle_period(ledger, cat, month, tmp / "ledger" / month.label, settled_by="t")
            by_store = settle_period(ledger, cat, month, tmp / "columnar" / month.label, settled_by="t",
                                     usage="columnar")
            assert (by_ledger.usage.path, by_store.usage.path) == ("ledger", "columnar")
            assert by_store.rerun and by_store.requests == by_ledger.requests
            same_files(tmp / "ledger" / month.label, tmp / "columnar" / month.label)
            assert all(s.users is not None for s in by_store.result.statements)  # active users counted, both ways
        ledger.close()


def test_a_store_behind_the_close_falls_back_or_refuses(tmp_path: Path) -> None:
    cat = catalog_in(tmp_path, 10, 10)
    ledger = Ledger(cat.database_url())
    ledger.migrate()
    ledger.append_now([record(cat, datetime(2026, 1, 5, tzinfo=UTC), prompt=1000 * i) for i in range(1, 6)])
    with ColumnarStore.open(cat.analytics_path()) as store:
        feed(ledger, store, until=3)
    close_period(ledger, JAN, closed_by="test")

    with pytest.raises(SettlementLedgerError, match=r"holds seq 1\.\.3, the close needs 1\.\.5"):
        settle_period(ledger, cat, JAN, tmp_path / "refused", settled_by="t", usage="columnar")
    auto = settle_period(ledger, cat, JAN, tmp_path / "auto", settled_by="t", usage="auto")
    assert auto.usage.path == "ledger" and "holds seq 1..3" in auto.usage.note and auto.requests == 5

    with ColumnarStore.open(cat.analytics_path()) as store:
        feed(ledger, store)
    again = settle_period(ledger, cat, JAN, tmp_path / "again", settled_by="t", usage="auto")
    assert again.usage.path == "columnar" and "seq 1..5" in again.usage.note and again.rerun
    same_files(tmp_path / "auto", tmp_path / "again")
    ledger.close()


HOLDER = textwrap.dedent("""
    import sys, time
    from revshare.analytics.store import ColumnarStore

    with ColumnarStore.open(sys.argv[1]):  # a writer: as a feeder during its round
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_settle_waits_for_a_feeders_round_then_falls_back(tmp_path: Path) -> None:
    cat = catalog_in(tmp_path, 10, 10)
    ledger = Ledger(cat.database_url())
    ledger.migrate()
    ledger.append_now([record(cat, datetime(2026, 1, 5, tzinfo=UTC), prompt=10)])
    close_period(ledger, JAN, closed_by="test")
    with ColumnarStore.open(cat.analytics_path()) as store:
        feed(ledger, store)

    short = hold(cat.analytics_path(), 1.0)  # a round that ends within [analytics] busy_wait_s
    run = settle_period(ledger, cat, JAN, tmp_path / "waited", settled_by="t", usage="auto")
    assert run.usage.path == "columnar"
    short.wait(timeout=30)

    impatient = catalog_in(tmp_path, 10, 10).model_copy(
        update={"analytics": cat.analytics.model_copy(update={"busy_wait_s": 0.3})})
    long = hold(cat.analytics_path(), 60.0)
    try:
        again = settle_period(ledger, impatient, JAN, tmp_path / "fallback", settled_by="t", usage="auto")
    finally:
        long.kill()
        long.wait(timeout=30)
    assert again.usage.path == "ledger" and "held by another process" in again.usage.note
    same_files(tmp_path / "waited", tmp_path / "fallback")
    for holder in (short, long):
        assert holder.stdout is not None
        holder.stdout.close()
    ledger.close()
