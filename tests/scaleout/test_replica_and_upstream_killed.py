"""Two replicas on one PostgreSQL and Redis, two upstreams; the replica that signs the logs and an
upstream are killed with SIGKILL mid-load.

Every response a client got has exactly one record, seq has no gap, the other replica takes over
the integrator within seconds and signs on, and the log audit finds nothing wrong; the surviving
replica answered every request it was sent, though an upstream died under it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from revshare.config import load_catalog
from revshare.ledger.schema import usage_records
from revshare.ledger.store import Ledger
from revshare.logstore.audit import audit
from revshare.logstore.schema import tlog_state
from tests.scaleout.processes import routed_catalog, start_replica, stop, upstreams
from tests.scaleout.redis_server import fresh_prefix, redis_url
from tests.support.databases import postgres_database
from tests.support.stub_gateway import BODY

REQUESTS = 150
LEADS = "now integrates and signs the logs"


def _wait(what: str, ready: object, timeout_s: float = 30.0) -> float:
    """Poll `ready()` until true; the seconds it took (a liveness bound, not a timing assertion)."""
    start = time.monotonic()
    while not ready():  # type: ignore[operator]
        assert time.monotonic() - start < timeout_s, f"{what} did not happen within {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - start


async def _load(ports: list[int], key: str, on_third: object) -> list[tuple[int, int, str | None]]:
    """(replica index, status or 0 for no answer, record id) of each request, 10 at a time."""
    results: list[tuple[int, int, str | None]] = []
    gate = asyncio.Semaphore(10)
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        async def one(i: int) -> None:
            replica = i % len(ports)
            async with gate:
                try:
                    r = await client.post(f"http://127.0.0.1:{ports[replica]}/v1/chat/completions", json=BODY)
                    record = r.json()["id"].removeprefix("chatcmpl-") if r.status_code == 200 else None
                    results.append((replica, r.status_code, record))
                except httpx.TransportError:
                    results.append((replica, 0, None))
                if len(results) == REQUESTS // 3:
                    on_third()  # type: ignore[operator]

        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    return results


@pytest.mark.postgres
def test_killing_the_signing_replica_and_an_upstream_loses_nothing(tmp_path: Path) -> None:
    redis = redis_url()
    with postgres_database() as url, upstreams(tmp_path, 2, tokens=7, delay_s=0.01) as ups:
        config = routed_catalog(tmp_path, ups, requests_per_minute=10_000, sections={
            "log": {"interval_s": 0.5},
            "rate_limits": {"redis_url": redis, "key_prefix": fresh_prefix()}})
        ledger = Ledger(url)
        ledger.migrate()
        _, key = ledger.create_key("demo", "scale")
        logs = [tmp_path / "replica0.log", tmp_path / "replica1.log"]
        first, port0 = start_replica(config, url, logs[0])
        second: tuple[object, int] | None = None
        try:
            _wait("the first replica leading", lambda: LEADS in logs[0].read_text())
            proc1, port1 = start_replica(config, url, logs[1])
            second = (proc1, port1)

            seen: dict[str, float | bool] = {}

            def takeover() -> None:
                seen["took"] = _wait("the second replica taking over", lambda: LEADS in logs[1].read_text())

            watcher = threading.Thread(target=takeover, daemon=True)

            def kill() -> None:
                seen["follower led before"] = LEADS in logs[1].read_text()
                first.send_signal(signal.SIGKILL)
                watcher.start()
                ups[0].kill()

            results = asyncio.run(_load([port0, port1], key, kill))
            watcher.join(40)
            assert seen["follower led before"] is False  # one leader at a time
            assert "took" in seen, "the second replica never took over"

            # Every answered request has exactly one record; the survivor answered all of its own.
            answered = [record for _, status, record in results if status == 200]
            assert [status for replica, status, _ in results if replica == 1] == [200] * (REQUESTS // 2)
            records = ledger.records()
            counts = Counter(r.id for r in records)
            assert all(counts[record] == 1 for record in answered)
            assert max(counts.values()) == 1
            seqs = [r.seq for r in records]
            assert seqs == list(range(1, len(seqs) + 1))  # no gap

            # The new leader integrates everything committed, and the logs audit clean.
            def integrated() -> bool:
                with ledger.engine.connect() as conn:
                    cursor = conn.execute(select(tlog_state.c.integrated_seq)).scalar_one()
                    top = conn.execute(select(func.max(usage_records.c.seq))).scalar_one()
                return bool(cursor == top)

            _wait("the logs catching up", integrated)
            assert audit(ledger, load_catalog(config)) == []
            print(f"the second replica led {seen['took']:.2f} s after the SIGKILL")
        finally:
            first.kill()
            if second is not None:
                stop(second[0])  # type: ignore[arg-type]
            ledger.close()
