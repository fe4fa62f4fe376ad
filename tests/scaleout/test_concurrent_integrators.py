"""Two integrators at once, each believing it leads (two replicas that both lost track of the lock):
the row lock takes them in turn, so the logs come out whole and every checkpoint extends the last."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from revshare.ledger.store import Ledger
from revshare.logstore.audit import audit
from revshare.logstore.integrator import integrate
from revshare.logstore.schema import tlog_checkpoints
from tests.support.databases import postgres_database
from tests.support.tlog_ledger import catalog, fill

BATCHES = 20


@pytest.mark.postgres
def test_two_integrators_racing_while_records_arrive_sign_one_consistent_history(tmp_path: Path) -> None:
    host = catalog(tmp_path)
    with postgres_database() as url:
        writer, first, second = Ledger(url), Ledger(url), Ledger(url)
        writer.migrate()
        errors: list[BaseException] = []
        done = threading.Event()

        def keep_integrating(ledger: Ledger) -> None:
            try:
                while not done.is_set():
                    integrate(ledger, host)
            except BaseException as exc:  # the assertion below names it
                errors.append(exc)

        threads = [threading.Thread(target=keep_integrating, args=(ledger,)) for ledger in (first, second)]
        for thread in threads:
            thread.start()
        try:
            for batch in range(BATCHES):
                fill(writer, batch * 10 + 1, batch * 10 + 10)
        finally:
            done.set()
            for thread in threads:
                thread.join(60)
        assert errors == []
        integrate(writer, host)
        assert audit(writer, host) == []
        with writer.engine.connect() as conn:
            sizes = conn.execute(select(tlog_checkpoints.c.size).where(tlog_checkpoints.c.log_id == "google")
                                 .order_by(tlog_checkpoints.c.size)).scalars().all()
            newest = conn.execute(select(func.max(tlog_checkpoints.c.size))).scalar_one()
        assert newest == BATCHES * 10 and len(sizes) == len(set(sizes))  # one checkpoint a size
        for ledger in (writer, first, second):
            ledger.close()
