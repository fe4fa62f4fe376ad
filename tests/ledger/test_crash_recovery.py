"""kill -9 in the middle of hundreds of streams: after a restart, every stream a client saw
complete has exactly one record, none is doubled, every interrupted request is resolved
(recorded, charged zero), and the budget counters still add up."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from revshare.ledger.recovery import INTERRUPTED
from revshare.metering.reservation import to_units
from revshare.records.record import Outcome
from tests.support.databases import postgres_database
from tests.support.servers import free_port
from tests.support.stub_gateway import (
    BODY,
    budget_row,
    count_rows,
    serve_setup,
    start_gateway,
    stub_upstream,
)

STREAMS = 200


@dataclass
class Seen:
    record_id: str | None = None
    done: bool = False


async def _streams(base: str, key: str, seen: list[Seen], proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=STREAMS)) as client:
        async def one(i: int) -> None:
            # Starts spread over 2 s and each stream at least 1 s long (20 tokens, 50 ms apart): when a
            # quarter have finished, the last quarter cannot have, however the commits batch.
            await asyncio.sleep(i * 0.01)
            try:
                async with client.stream("POST", base + "/v1/chat/completions",
                                         json={**BODY, "stream": True, "max_tokens": 20},
                                         headers={"Authorization": f"Bearer {key}"}) as r:
                    seen[i].record_id = r.headers.get("x-revshare-record-id")
                    async for line in r.aiter_lines():
                        if line == "data: [DONE]":
                            seen[i].done = True
            except httpx.HTTPError:
                pass

        async def killer() -> None:
            while sum(s.done for s in seen) < STREAMS // 4:
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGKILL)

        await asyncio.gather(killer(), *(one(i) for i in range(STREAMS)))


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_mid_stream_loses_and_doubles_nothing(db: str, tmp_path: Path) -> None:
    with stub_upstream(tokens=20, delay_s=0.05) as upstream:
        if db == "sqlite":
            _run(f"sqlite:///{tmp_path / 'ledger.db'}", upstream, tmp_path)
        else:
            with postgres_database() as url:
                _run(url, upstream, tmp_path)


def _run(url: str, upstream: str, tmp_path: Path) -> None:
    config, ledger, key = serve_setup(tmp_path, url, upstream, "crash", budget="1000")
    port, log = free_port(), tmp_path / "gateway.log"
    proc = start_gateway(config, url, port, log)
    seen = [Seen() for _ in range(STREAMS)]
    try:
        asyncio.run(_streams(f"http://127.0.0.1:{port}", key, seen, proc))
    finally:
        proc.kill()
        proc.wait(10)
    completed = [s.record_id for s in seen if s.done]
    started = [s.record_id for s in seen if s.record_id]
    assert STREAMS // 4 <= len(completed) < STREAMS
    assert count_rows(url, "reservations") > 0  # the kill left intents behind

    proc = start_gateway(config, url, port, log)  # the restart resolves them
    try:
        records = {r.id: r for r in ledger.records(customer="demo")}
        assert count_rows(url, "usage_records") == len(records)  # no record doubled
        assert count_rows(url, "reservations") == 0  # every interrupted request resolved
        for rid in completed:
            assert rid in records and records[rid].outcome is Outcome.OK
        for rid in started:  # every request that reached the engine has exactly one record
            assert rid in records
        interrupted = [r for r in records.values() if r.error_code == INTERRUPTED]
        assert interrupted and all(r.amount == 0 and r.outcome is Outcome.ENGINE_ERROR for r in interrupted)
        spent, reserved = budget_row(url)
        assert reserved == 0
        assert spent == sum(to_units(r.amount) for r in records.values())
        # and the gateway serves again
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY,
                       headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(20)
        ledger.close()
