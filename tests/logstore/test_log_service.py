"""The gateway's log service: its gauges, its readiness and its audit-failure count, over a real ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

import tests.support.tlog_ledger as h
from revshare.config import Catalog, parse_catalog
from revshare.ledger.store import Ledger
from revshare.logstore.identity import HOST_LOG
from revshare.logstore.integrator import integrate
from revshare.logstore.service import LogService, read_log_state
from revshare.metrics import Metrics
from revshare.metrics.series import value_of
from tests.support.catalogs import catalog_dict

INTERVAL = 0.1


def fast_catalog(data_dir: Path) -> Catalog:
    raw = catalog_dict(data_dir=str(data_dir))
    raw["log"] = {"interval_s": INTERVAL}
    return parse_catalog(raw, source="test.toml")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    ledger = Ledger(ledger_url)
    ledger.migrate()
    yield ledger
    ledger.close()


async def until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


async def with_service(catalog: Catalog, ledger: Ledger, body: Callable[[LogService], Awaitable[None]]) -> None:
    service = LogService.start(catalog, ledger, Metrics())
    try:
        await body(service)
    finally:
        await service.stop()


def test_pending_records_are_counted_per_log_before_integration(ledger: Ledger) -> None:
    h.fill(ledger, 1, 5)
    h.fill(ledger, 6, 7, licensors=())
    h.fill(ledger, 8, 8, licensors=("google", "meta"))
    state = read_log_state(ledger)
    assert state.pending == {"google": 6, HOST_LOG: 2, "meta": 1}
    assert state.sizes == {} and state.signed_at == {}


async def test_gauges_show_each_logs_size_and_nothing_pending_after_integration(
        ledger: Ledger, tmp_path: Path) -> None:
    h.fill(ledger, 1, 5)
    h.fill(ledger, 6, 7, licensors=())
    catalog = fast_catalog(tmp_path)

    async def check(service: LogService) -> None:
        m = service.metrics
        await until(lambda: value_of(m, "revshare_log_size", {"log": "google"}) == 5, "google's log has 5 leaves")
        await until(lambda: value_of(m, "revshare_log_pending_records", {"log": "google"}) == 0, "nothing pending")
        assert value_of(m, "revshare_log_size", {"log": HOST_LOG}) == 2
        assert value_of(m, "revshare_log_pending_records", {"log": HOST_LOG}) == 0
        for log_id in ("google", HOST_LOG):
            age = value_of(m, "revshare_log_checkpoint_age_seconds", {"log": log_id})
            assert age is not None and 0 <= age < 60
        assert value_of(m, "revshare_log_checkpoint_interval_seconds") == INTERVAL
        assert value_of(m, "revshare_log_audit_failures_total", {"log": "google"}) in (None, 0)
        assert service.ready() is None and service.last_error is None
        # New records are integrated at the next ticks, and the gauges follow.
        h.fill(ledger, 8, 10)
        await until(lambda: value_of(m, "revshare_log_size", {"log": "google"}) == 8, "google's log grows to 8")
        await until(lambda: value_of(m, "revshare_log_pending_records", {"log": "google"}) == 0, "nothing pending")

    await with_service(catalog, ledger, check)


async def test_a_refused_signature_counts_as_an_audit_failure_and_makes_the_log_not_ready(
        ledger: Ledger, tmp_path: Path) -> None:
    h.fill(ledger, 1, 3)
    integrate(ledger, fast_catalog(tmp_path / "first-host"))
    h.fill(ledger, 4, 4)
    # Another data dir holds another key: google's last checkpoint does not verify under it.
    catalog = fast_catalog(tmp_path / "other-host")

    async def check(service: LogService) -> None:
        m = service.metrics
        await until(lambda: (value_of(m, "revshare_log_audit_failures_total", {"log": "google"}) or 0) >= 1,
                    "the refusal is counted under google")
        assert "does not verify under this host's key" in (service.last_error or "")
        await until(lambda: service.ready() is not None, "the log is not ready")
        reason = service.ready() or ""
        assert "google (1)" in reason and "does not verify" in reason
        assert value_of(m, "revshare_log_pending_records", {"log": "google"}) == 1
        assert value_of(m, "revshare_log_size", {"log": "google"}) == 3  # nothing new was signed

    await with_service(catalog, ledger, check)
