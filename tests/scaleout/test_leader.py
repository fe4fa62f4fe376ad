"""The integrator lock: one leader at a time on PostgreSQL, handed over on release or a lost session."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from revshare.ledger.store import Ledger
from revshare.logstore.leader import Leadership, lock_key
from tests.support.databases import postgres_database


@pytest.mark.postgres
def test_one_leader_at_a_time_and_the_next_takes_over_when_it_goes() -> None:
    with postgres_database() as url:
        ledgers = [Ledger(url), Ledger(url)]
        first, second = (Leadership(ledger, name="test-lock") for ledger in ledgers)
        try:
            assert first.hold() and first.hold()  # it keeps leading
            assert not second.hold()
            first.release()
            assert second.hold() and not first.hold()

            # The leader's session ends under it (as when PostgreSQL restarts): it finds out at its
            # next tick, and the other replica takes over.
            with ledgers[0].engine.connect() as conn:
                ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                          "AND granted AND objid::bigint = :low"),
                                     {"low": lock_key("test-lock") & 0xFFFFFFFF}).all()
                conn.commit()
            assert len(ended) == 1
            deadline = time.monotonic() + 10  # the session ends a moment after it is told to
            while not first.hold():
                assert time.monotonic() < deadline, "the lock did not go with the session"
                time.sleep(0.05)
            assert not second.hold()  # its session is gone, and so is its claim
            assert first.hold()
        finally:
            first.release()
            second.release()
            for ledger in ledgers:
                ledger.close()


def test_on_sqlite_every_process_may_integrate(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        assert Leadership(ledger).hold() and Leadership(ledger).hold()
    finally:
        ledger.close()
