"""Replay bodies are kept for `server.idempotency_retention_s` only (issue 17, "Privacy and secrets").

Every request with an Idempotency-Key stores its whole response (a stream: its SSE text) so that
a retry can be answered without running again. That is completion text: it is kept for the
retention window (24 hours by default) and deleted after it, by the gateway's periodic sweep;
a retry after the window runs, and is billed, as a new request, even before the sweep ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from revshare.config import parse_catalog
from revshare.ledger.admission_schema import idempotency_keys
from revshare.ledger.idempotency import DEFAULT_RETENTION_S, lookup, sweep_expired
from revshare.ledger.store import Ledger
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import BODY, stub_catalog_dict, stub_upstream

CHAT = "/v1/chat/completions"


def claim(ledger: Ledger, key: str, created: datetime, status: int | None) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(idempotency_keys.insert().values(
            customer="demo", key=key, body_hash="h", record_id=f"rec_{key}", status=status,
            response='{"choices": [{"message": {"content": "a completion"}}]}' if status else None,
            created_at=created))


def test_the_sweep_deletes_completed_keys_past_the_window_only(ledger: Ledger) -> None:
    now = datetime.now(UTC)
    claim(ledger, "old-done", now - timedelta(seconds=3601), 200)
    claim(ledger, "old-error", now - timedelta(days=3), 500)
    claim(ledger, "fresh-done", now - timedelta(seconds=3599), 200)
    claim(ledger, "old-running", now - timedelta(days=2), None)  # a request still running: never swept
    assert sweep_expired(ledger, 3600, now=now) == 2
    assert lookup(ledger, "demo", "old-done") is None and lookup(ledger, "demo", "old-error") is None
    assert lookup(ledger, "demo", "fresh-done") is not None and lookup(ledger, "demo", "old-running") is not None
    assert sweep_expired(ledger, 3600, now=now) == 0


def test_the_default_window_is_24_hours_in_the_catalog_and_the_ledger() -> None:
    from revshare.config import ServerConfig

    assert ServerConfig().idempotency_retention_s == DEFAULT_RETENTION_S == 86_400


def backdate(gw: Running, key: str, seconds: float) -> None:
    with gw.ledger.engine.begin() as conn:
        conn.execute(update(idempotency_keys).where(idempotency_keys.c.key == key)
                     .values(created_at=datetime.now(UTC) - timedelta(seconds=seconds)))


def post(gw: Running, key: str) -> httpx.Response:
    return httpx.post(gw.url + CHAT, json=BODY, timeout=30,
                      headers={"Authorization": f"Bearer {gw.keys['demo']}", "Idempotency-Key": key})


@contextmanager
def gateway(url: str, data_dir: Path, tick_s: float) -> Iterator[Running]:
    """A gateway keeping replay bodies 60 s, its log (and sweep) ticking every `tick_s`."""
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["server"].update(idempotency_retention_s=60, data_dir=str(data_dir))
        raw["log"] = {"interval_s": tick_s}
        with running_gateway(parse_catalog(raw), url) as gw:
            yield gw


@pytest.fixture
def sweeping(ledger_url: str, tmp_path: Path) -> Iterator[Running]:
    with gateway(ledger_url, tmp_path / "data", 0.05) as gw:
        yield gw


@pytest.fixture
def not_sweeping(ledger_url: str, tmp_path: Path) -> Iterator[Running]:
    with gateway(ledger_url, tmp_path / "data", 3600) as gw:  # one tick at start, then none in the test
        time.sleep(0.2)
        yield gw


def test_after_the_window_a_key_runs_as_a_new_request(not_sweeping: Running) -> None:
    gw = not_sweeping
    first = post(gw, "order-1")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert post(gw, "order-1").headers.get("idempotent-replayed") == "true"
    backdate(gw, "order-1", 61)
    fresh = post(gw, "order-1")  # no sweep runs meanwhile: the claim itself takes the expired key over
    assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]
    assert len(gw.ledger.records(customer="demo")) == 2  # billed again: it ran again
    again = post(gw, "order-1")  # the new request's window has just begun
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == fresh.json()


def test_the_gateway_deletes_replay_bodies_past_the_window(sweeping: Running) -> None:
    gw = sweeping
    assert post(gw, "order-2").status_code == 200
    assert post(gw, "order-3").status_code == 200
    state = lookup(gw.ledger, "demo", "order-2")
    assert state is not None and state.response is not None and "content" in state.response
    backdate(gw, "order-2", 61)
    deadline = time.monotonic() + 10
    while lookup(gw.ledger, "demo", "order-2") is not None:
        assert time.monotonic() < deadline, "the expired replay body was not deleted"
        time.sleep(0.05)
    assert lookup(gw.ledger, "demo", "order-3") is not None  # inside its window: kept
