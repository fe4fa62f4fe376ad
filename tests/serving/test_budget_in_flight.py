"""Issue 11, item 7: a budget held by requests in flight answers 429 (retry), not 402 (payment
required); 402 is kept for a budget that cannot cover the request even with nothing in flight.
Through a real gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from typing import Any

import httpx

from revshare.metering.reservation import to_units
from tests.metrics.scrape import scrape_until, total
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import BODY, budget_row, count_rows, stub_catalog, stub_upstream

RESERVED = 5_400  # what BODY reserves (26 prompt + 7 completion tokens at most), in budget units
COST = 3_800  # what it costs (the stub reports 10 prompt and 7 completion tokens)
CHAT = "/v1/chat/completions"


def _post(gw: Running, **body: Any) -> httpx.Response:
    return httpx.post(gw.url + CHAT, json={**BODY, **body}, timeout=60,
                      headers={"Authorization": f"Bearer {gw.keys['demo']}"})


def _wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_in_flight_reservations_are_429_then_served_and_spent_money_is_402(ledger_url: str) -> None:
    budget = "0.00002"  # 20,000 units: three requests in flight (16,200); a fourth only once they end
    limit = to_units(Decimal(budget))
    with stub_upstream(delay_s=0.3) as base, running_gateway(stub_catalog(base, budget=budget), ledger_url) as gw:
        first: list[httpx.Response] = []
        runners = [threading.Thread(target=lambda: first.append(_post(gw))) for _ in range(3)]
        for runner in runners:
            runner.start()
        _wait_for(lambda: budget_row(ledger_url)[1] == 3 * RESERVED)  # all three in flight

        # 0 spent + 5,400 <= 20,000, but 16,200 reserved in flight: retry, for a whole and a streamed request
        for stream in (False, True):
            busy = _post(gw, stream=stream)
            assert busy.status_code == 429, busy.text
            assert busy.headers["retry-after"] == "1"
            assert busy.json() == {"error": {
                "message": busy.json()["error"]["message"], "type": "rate_limit_error", "param": None,
                "code": "budget_reserved_in_flight"}}
            assert "customer:demo" in busy.json()["error"]["message"]
        assert count_rows(ledger_url, "usage_records") == 0  # refused before any engine: no record

        for runner in runners:
            runner.join(60)
        assert [r.status_code for r in first] == [200] * 3
        assert budget_row(ledger_url) == (3 * COST, 0)

        # the others have settled: the retry is served (11,400 + 5,400 <= 20,000)
        assert _post(gw).status_code == 200
        assert budget_row(ledger_url) == (4 * COST, 0)

        # nothing in flight, and 15,200 spent + 5,400 > 20,000: payment required, for good
        broke = _post(gw)
        assert broke.status_code == 402 and "retry-after" not in broke.headers
        assert broke.json()["error"]["code"] == "budget_exceeded"
        assert broke.json()["error"]["type"] == "insufficient_quota"

        # counted the way other refusals are
        samples = scrape_until(gw.url, lambda s: total(s, "revshare_refusals_total", kind="budget_exceeded") == 1)
        assert total(samples, "revshare_refusals_total", kind="budget_reserved_in_flight") == 2
        assert total(samples, "revshare_refusals_total", kind="budget_exceeded") == 1

        records = gw.ledger.records(customer="demo")
        assert len(records) == 4
        assert budget_row(ledger_url)[0] == sum(to_units(r.amount) for r in records) <= limit


async def _burst(gw: Running, n: int) -> tuple[list[int], list[int]]:
    """n requests at once; each retries a 429 after its Retry-After (as the openai SDK does) until it is
    served or refused for good. The statuses of the first attempts, and of the last."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
    firsts: list[int] = []
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one(i: int) -> int:
            attempt = 0
            while True:
                r = await client.post(gw.url + CHAT, json={**BODY, "stream": i % 2 == 1},
                                      headers={"Authorization": f"Bearer {gw.keys['demo']}"})
                await r.aread()
                if attempt == 0:
                    firsts.append(r.status_code)
                if r.status_code != 429:
                    return r.status_code
                assert r.json()["error"]["code"] == "budget_reserved_in_flight"
                attempt += 1
                assert attempt < 60, "retried for a minute"
                await asyncio.sleep(float(r.headers["retry-after"]))

        finals = list(await asyncio.gather(*(one(i) for i in range(n))))
    return firsts, finals


def test_forty_at_once_against_room_for_five_retry_rather_than_fail(ledger_url: str) -> None:
    """The issue's scenario, scaled: 40 requests at once against a budget five of them can reserve.
    Before: a handful served, the rest 402 while money was left. Now: no 402 while requests are in
    flight and the budget could still cover one; clients that retry are served until spent money
    alone blocks them; the budget never overruns."""
    budget = "0.000027"  # 27,000 units: five reservations of 5,400
    limit = to_units(Decimal(budget))
    with stub_upstream(delay_s=0.3) as base, running_gateway(stub_catalog(base, budget=budget), ledger_url) as gw:
        firsts, finals = asyncio.run(_burst(gw, 40))
    assert set(finals) <= {200, 402}, finals
    assert 402 not in firsts and firsts.count(429) >= 30 and firsts.count(200) <= 5
    records = gw.ledger.records(customer="demo")
    served = finals.count(200)
    assert len(records) == served > 5  # more than the first wave: the retries were served
    spent, reserved = budget_row(ledger_url)
    assert reserved == 0 and spent == sum(to_units(r.amount) for r in records) <= limit
    assert spent + RESERVED > limit  # every 402 was right: with nothing in flight the budget cannot cover one
    assert finals.count(402) == 40 - served
