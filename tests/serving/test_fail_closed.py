"""Fail closed: while the ledger cannot be written, completions get 503 and never reach the
engine; when it comes back, service resumes without a restart."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.databases import postgres_database, set_connections
from tests.support.servers import running_gateway
from tests.support.stub_gateway import BODY, count_rows, stub_catalog, stub_upstream


@pytest.mark.postgres
def test_an_unwritable_ledger_gives_503_then_service_resumes() -> None:
    with postgres_database() as url, stub_upstream() as base, \
            running_gateway(stub_catalog(base, budget="10"), url) as gw:
        h = {"Authorization": f"Bearer {gw.keys['demo']}"}
        assert httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=h, timeout=30).status_code == 200
        set_connections(url, allowed=False)
        try:
            for body in (BODY, {**BODY, "stream": True}):
                r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=h, timeout=30)
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "ledger_unavailable"
            health = httpx.get(gw.url + "/healthz", timeout=10).json()
            assert health["ledger"] == "unavailable"
        finally:
            set_connections(url, allowed=True)
        deadline = time.monotonic() + 10
        while True:
            r = httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=h, timeout=30)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        # one record before, one after: the refused requests reached no engine and left nothing
        assert count_rows(url, "usage_records") == 2
        assert count_rows(url, "reservations") == 0
