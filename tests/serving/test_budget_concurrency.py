"""Budgets hold under concurrency: hundreds of requests against a nearly spent budget never
overrun it, on SQLite, on PostgreSQL, and with two gateways sharing one PostgreSQL ledger."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from revshare.api.app import create_app
from revshare.ledger.store import Ledger
from revshare.metering.reservation import to_units
from revshare.records.record import Outcome
from tests.support.databases import postgres_database
from tests.support.servers import ServerThread, free_port, running_gateway
from tests.support.stub_gateway import (
    BODY,
    budget_row,
    count_rows,
    serve_setup,
    start_gateway,
    stub_catalog,
    stub_upstream,
)

BUDGET = "0.0002"  # 200,000 units; each request reserves 5,400 (26 prompt + 7 completion) and costs 3,800
REQUESTS = 300


async def _fire(urls: list[str], key: str, n: int) -> list[int]:
    # A fresh connection per request: a pooled connection that sat idle past the server's keep-alive
    # timeout can be closed just as a request is written to it (a ReadError that says nothing about
    # budgets); connection reuse is not what this test is about.
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one(i: int) -> int:
            body = {**BODY, "stream": i % 2 == 1}
            r = await client.post(urls[i % len(urls)] + "/v1/chat/completions", json=body,
                                  headers={"Authorization": f"Bearer {key}"})
            await r.aread()
            return r.status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def _check(url: str, ledger: Ledger, statuses: list[int]) -> None:
    # 402: the budget cannot cover one more even with nothing in flight; 429: requests in flight hold it
    assert set(statuses) <= {200, 402, 429}, statuses
    ok, refused = statuses.count(200), statuses.count(402) + statuses.count(429)
    assert ok >= 30 and refused >= 200
    records = ledger.records(customer="demo")
    assert len(records) == ok  # a 402 or 429 never reached the engine: no record
    assert all(r.outcome is Outcome.OK for r in records)
    spent, reserved = budget_row(url)
    limit = to_units(Decimal(BUDGET))
    assert reserved == 0
    assert spent == sum(to_units(r.amount) for r in records)
    assert spent <= limit  # the overrun bound: zero
    if 402 in statuses:  # spent only grows, so a right 402 stays right: 5,400 more cannot fit
        assert spent + 5_400 > limit
    assert sum((r.amount for r in records), Decimal(0)) <= Decimal(BUDGET)
    assert count_rows(url, "reservations") == 0


def test_concurrent_requests_never_overrun_a_budget(ledger_url: str) -> None:
    with stub_upstream() as base, running_gateway(stub_catalog(base, budget=BUDGET), ledger_url) as gw:
        statuses = asyncio.run(_fire([gw.url], gw.keys["demo"], REQUESTS))
        _check(ledger_url, gw.ledger, statuses)


@pytest.mark.postgres
def test_two_gateways_on_one_postgres_ledger_never_overrun_a_budget() -> None:
    with postgres_database() as url, stub_upstream() as base:
        catalog = stub_catalog(base, budget=BUDGET)
        ledger = Ledger(url)
        ledger.migrate()
        _, key = ledger.create_key("demo", "test")
        token = "rsa_" + uuid.uuid4().hex
        with ServerThread(create_app(catalog, admin_token=token, ledger=Ledger(url))) as a, \
                ServerThread(create_app(catalog, admin_token=token, ledger=Ledger(url))) as b:
            statuses = asyncio.run(_fire([a.url, b.url], key, REQUESTS))
        _check(url, ledger, statuses)
        ledger.close()


@pytest.mark.postgres
def test_two_gateway_processes_on_one_postgres_ledger_never_overrun_a_budget(tmp_path: Path) -> None:
    """The same, with two `revshare serve` processes (not two apps in one process)."""
    with postgres_database() as url, stub_upstream() as base:
        config, ledger, key = serve_setup(tmp_path, url, base, "test", budget=BUDGET)
        ports = [free_port(), free_port()]
        procs = [start_gateway(config, url, port, tmp_path / f"gw{i}.log") for i, port in enumerate(ports)]
        try:
            statuses = asyncio.run(_fire([f"http://127.0.0.1:{p}" for p in ports], key, REQUESTS))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(20)
        _check(url, ledger, statuses)
        ledger.close()
