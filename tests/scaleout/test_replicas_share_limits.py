"""Two `revshare serve` replicas on one PostgreSQL and one Redis: a customer at N requests a
minute gets N in all, not N per replica."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from revshare.ledger.store import Ledger
from tests.scaleout.processes import routed_catalog, start_replica, stop, upstreams
from tests.scaleout.redis_server import fresh_prefix, redis_url
from tests.support.databases import postgres_database
from tests.support.stub_gateway import BODY

RPM = 20


async def _spread(ports: list[int], key: str, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        responses = await asyncio.gather(*(
            client.post(f"http://127.0.0.1:{ports[i % len(ports)]}/v1/chat/completions", json=BODY)
            for i in range(count)))
    return [r.status_code for r in responses]


@pytest.mark.postgres
def test_a_customer_at_n_rpm_gets_n_across_two_replicas(tmp_path: Path) -> None:
    redis = redis_url()
    with postgres_database() as url, upstreams(tmp_path, 2) as ups:
        config = routed_catalog(tmp_path, ups, requests_per_minute=RPM,
                                sections={"rate_limits": {"redis_url": redis, "key_prefix": fresh_prefix()}})
        ledger = Ledger(url)
        ledger.migrate()
        _, key = ledger.create_key("demo", "replicas")
        replicas = [start_replica(config, url, tmp_path / f"gateway{i}.log") for i in range(2)]
        try:
            statuses = asyncio.run(_spread([port for _, port in replicas], key, 3 * RPM))
            assert statuses.count(200) == RPM, statuses
            assert statuses.count(429) == 2 * RPM
            assert ledger.count() == RPM
        finally:
            for proc, _ in replicas:
                stop(proc)
            ledger.close()
