"""Liveness and readiness over a real gateway: the stub upstream going away and coming back, and a
ledger that refuses writes. No timed assertion: each change is polled for, with a deadline."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.databases import postgres_database, set_connections
from tests.support.servers import ServerThread, running_gateway, upstream_stub_app
from tests.support.stub_gateway import BODY, stub_catalog, stub_upstream

DEADLINE_S = 30.0


def readyz(url: str) -> tuple[int, dict[str, Any]]:
    r = httpx.get(url + "/readyz", timeout=10)
    return r.status_code, r.json()


def poll_readyz(url: str, status: int) -> dict[str, Any]:
    """The first /readyz body with this status, polled until the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        code, body = readyz(url)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {code}: {body}"
        time.sleep(0.2)


def test_readyz_names_the_upstream_while_it_is_down_and_clears_when_it_is_back(sqlite_url: str) -> None:
    upstream = ServerThread(upstream_stub_app(7))
    with upstream, running_gateway(stub_catalog(upstream.url + "/v1"), sqlite_url) as gw:
        code, body = readyz(gw.url)
        assert code == 200, body
        assert body == {"status": "ready", "checks": {"ledger": "ok", "engine:stub": "ok", "log": "ok"}}
        upstream.__exit__(None, None, None)
        body = poll_readyz(gw.url, 503)
        assert body["status"] == "not_ready"
        assert "unreachable" in body["checks"]["engine:stub"]
        assert body["checks"]["ledger"] == "ok" and body["checks"]["log"] == "ok"
        # liveness is not readiness: the process still serves
        assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200
        with ServerThread(upstream_stub_app(7), port=upstream.port):
            body = poll_readyz(gw.url, 200)
            assert body["checks"]["engine:stub"] == "ok"


def test_healthz_keeps_its_liveness_body(sqlite_url: str) -> None:
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as gw:
        body = httpx.get(gw.url + "/healthz", timeout=10).json()
        assert body["status"] == "ok" and body["ledger"] == "ok"
        assert set(body) == {"status", "version", "models", "records_appended", "ledger", "ledger_backlog"}


@pytest.mark.postgres
def test_readyz_names_the_ledger_while_it_refuses_writes() -> None:
    with postgres_database() as url, stub_upstream() as base, running_gateway(stub_catalog(base), url) as gw:
        h = {"Authorization": f"Bearer {gw.keys['demo']}"}
        # one request first: the key is then cached, so the next one reaches the ledger's writer
        assert httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=h, timeout=30).status_code == 200
        assert readyz(gw.url)[0] == 200
        set_connections(url, allowed=False)
        try:
            # the writer learns the ledger is away from the write that fails (fail closed: 503)
            r = httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=h, timeout=30)
            assert r.status_code == 503, r.text
            code, body = readyz(gw.url)
            assert code == 503 and body["status"] == "not_ready"
            assert "cannot be written" in body["checks"]["ledger"]
            assert body["checks"]["engine:stub"] == "ok"
        finally:
            set_connections(url, allowed=True)
        deadline = time.monotonic() + DEADLINE_S
        while httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=h, timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the ledger never came back"
            time.sleep(0.2)
        assert poll_readyz(gw.url, 200)["checks"]["ledger"] == "ok"
