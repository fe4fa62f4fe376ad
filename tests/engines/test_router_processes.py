"""Routing with real processes: three stub upstreams behind one `revshare serve`, one killed mid-load.

Every request that got an answer has exactly one record naming the engine that served it; no
non-streaming request fails while an engine is left; a request that fails everywhere is one
`engine_error` record; an engine that comes back gets traffic again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from revshare.ledger.store import Ledger
from revshare.records.record import Outcome
from tests.scaleout.processes import routed_catalog, start_replica, stop, upstreams
from tests.support.stub_gateway import BODY

REQUESTS = 120


async def _load(base: str, key: str, on_half: Any) -> list[tuple[int, str | None, bool]]:
    """REQUESTS requests, 12 at a time, every third a stream; `on_half` runs when half have ended.
    Returns (status, record id, stream completed) per request."""
    results: list[tuple[int, str | None, bool]] = []
    gate = asyncio.Semaphore(12)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        async def one(i: int) -> None:
            async with gate:
                if i % 3 == 0:
                    async with client.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as r:
                        text = "".join([line async for line in r.aiter_lines()])
                        results.append((r.status_code, r.headers.get("x-revshare-record-id"),
                                        r.status_code == 200 and '"error"' not in text and "[DONE]" in text))
                else:
                    r = await client.post("/v1/chat/completions", json=BODY)
                    record = r.json()["id"].removeprefix("chatcmpl-") if r.status_code == 200 else None
                    results.append((r.status_code, record, r.status_code == 200))
                if len(results) == REQUESTS // 2:
                    on_half()

        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    return results


def _records_by_id(ledger: Ledger, want: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        records = ledger.records()
        if len(records) >= want or time.monotonic() > deadline:
            ids = Counter(r.id for r in records)
            assert max(ids.values(), default=1) == 1, "a record is doubled"
            return {r.id: r for r in records}
        time.sleep(0.1)


def test_killing_an_upstream_mid_load_loses_no_request_and_bills_each_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with upstreams(tmp_path, 3, tokens=7, delay_s=0.01) as ups:
        config = routed_catalog(tmp_path, ups)
        ledger = Ledger(url)
        ledger.migrate()
        _, key = ledger.create_key("demo", "router")
        proc, port = start_replica(config, url, tmp_path / "gateway.log")
        try:
            results = asyncio.run(_load(f"http://127.0.0.1:{port}", key, ups[1].kill))
            records = _records_by_id(ledger, REQUESTS)
            assert len(records) == REQUESTS  # one record per request, retried or not

            # Non-streaming requests never failed: a dead engine's were retried on another.
            assert all(status == 200 for status, _, _ in results)
            for _, record_id, completed in results:
                assert record_id in records
                if completed:
                    record = records[record_id]
                    assert record.outcome == Outcome.OK and record.engine in {"e0", "e1", "e2"}
                    assert record.amount > 0
            served = Counter(r.engine for r in records.values() if r.outcome == Outcome.OK)
            assert set(served) == {"e0", "e1", "e2"}  # all three served before the kill
            # After the kill, `e1` serves nothing more.
            tail = sorted(records.values(), key=lambda r: r.started_at)[-20:]
            assert "e1" not in {r.engine for r in tail}

            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            retried = [line for line in metrics.splitlines() if line.startswith('revshare_engine_retries_total{engine="e1"}')]
            assert retried and float(retried[0].split()[-1]) >= 1  # the kill did land on requests, retried

            # One engine down leaves the gateway ready: the route answers for its engines.
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["engine:route:gemma-3-270m"] == "ok"
            assert "engine:e1" not in ready.json()["checks"]

            # It comes back: after the cooldown a health check finds it answering, and it serves again.
            ups[1].start()
            deadline = time.monotonic() + 20
            headers = {"Authorization": f"Bearer {key}"}
            engines: set[str] = set()
            while "e1" not in engines and time.monotonic() < deadline:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY, headers=headers, timeout=10)
                assert r.status_code == 200
                engines.add(ledger.records(record_id=r.json()["id"].removeprefix("chatcmpl-"))[0].engine)
            assert "e1" in engines

            # Every engine down: one request, one record, engine_error, charged nothing.
            for upstream in ups:
                upstream.kill()
            before = len(ledger.records())
            r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY, headers=headers, timeout=30)
            assert r.status_code in (502, 503)
            assert r.json()["error"]["code"] in ("engine_unavailable", "engine_error")
            time.sleep(0.5)
            failed = ledger.records()[before:]
            assert [(f.outcome, f.amount) for f in failed] == [(Outcome.ENGINE_ERROR, 0)]
            assert failed[0].engine in {"e0", "e1", "e2"}
        finally:
            stop(proc)
            ledger.close()
