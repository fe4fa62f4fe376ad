"""End users: the request's `user` is kept only as a keyed hash (per customer), counted exactly per
model and licence (else the key counts), and estimated live with HyperLogLog, exported on the admin
API and as gauges without a customer label, with a warning when a licence threshold is near."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest

from revshare.accounts.end_users import end_user_hash, end_user_identity
from revshare.accounts.live_users import LIVE_RSE, LiveEndUsers
from revshare.accounts.users import monthly_users
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from revshare.metrics import Metrics
from revshare.metrics.series import value_of
from revshare.records.projection import PROJECTION_FIELDS, project
from tests.support.licence_catalogs import NOVEMBER, users_catalog
from tests.support.records import record
from tests.support.servers import running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

SECRET = b"\x07" * 32


def test_the_hash_is_keyed_per_customer_and_never_the_field() -> None:
    alice = end_user_hash(SECRET, "acme", "alice")
    assert len(alice) == 64 and "alice" not in alice
    assert alice == end_user_hash(SECRET, "acme", "alice")
    assert alice != end_user_hash(SECRET, "globex", "alice")  # two customers' alice: two end users
    assert alice != end_user_hash(b"\x08" * 32, "acme", "alice")  # another host's secret: another hash
    assert end_user_hash(SECRET, "acme", None) == end_user_hash(SECRET, "acme", "") == ""
    assert end_user_identity("", "key_1") == "key:key_1" and end_user_identity(alice, "key_1") == alice


def test_the_end_user_is_not_in_the_log_leaf() -> None:
    r = dataclasses.replace(record(1), end_user=end_user_hash(SECRET, "acme", "alice"), seq=1)
    leaf = project(r, SECRET)
    assert "end_user" not in PROJECTION_FIELDS and r.end_user not in leaf.values()


def test_exact_counts_are_of_end_users_else_keys(ledger: Ledger) -> None:
    catalog = parse_catalog(users_catalog([3, 100]))
    day = NOVEMBER + timedelta(days=2)

    def use(n: int, customer: str, key: str, model: str, user: str | None) -> Any:
        return dataclasses.replace(record(n), customer=customer, key_id=key, model=model, started_at=day,
                                   ended_at=day, idempotency_key=None, end_user=end_user_hash(SECRET, customer, user))

    ledger.append_now([
        use(1, "acme", "k1", "gemma-3-270m", "alice"), use(2, "acme", "k2", "gemma-3-270m", "alice"),  # one
        use(3, "acme", "k1", "gemma-ft", "bob"), use(4, "globex", "k3", "gemma-ft", "alice"),  # two more
        use(5, "globex", "k3", "gemma-ft", None), use(6, "globex", "k3", "gemma-3-270m", None),  # the key: one
    ])
    result = monthly_users(ledger.engine, catalog, "2026-11")
    models = {m.model: m for m in result.models}
    assert (models["gemma-3-270m"].end_users, models["gemma-3-270m"].customers) == (2, 2)
    assert (models["gemma-ft"].end_users, models["gemma-ft"].keys) == (3, 2)
    (gemma,) = result.licences
    assert (gemma.end_users, gemma.customers, gemma.keys) == (4, 2, 3)
    assert [(t.users, t.state) for t in gemma.thresholds] == [(3, "over"), (100, "below")]


def test_the_live_count_estimates_within_its_error() -> None:
    catalog = parse_catalog(users_catalog([20_000]))
    live = LiveEndUsers(catalog)
    now = datetime(2026, 11, 5, tzinfo=UTC)
    for n in range(10_000):
        live.observe("gemma-3-270m", f"u{n}", now)
        live.observe("gemma-ft", f"u{n}", now)  # the same end users: the licence counts them once
        live.observe("gemma-plain", f"p{n % 10}", now)
    counts = live.snapshot()
    assert counts.month == "2026-11"
    assert abs(counts.licences["gemma"] - 10_000) < 3 * LIVE_RSE * 10_000
    assert abs(counts.models["gemma-ft"] - 10_000) < 3 * LIVE_RSE * 10_000
    assert round(counts.models["gemma-plain"]) == 10  # small counts are exact
    assert "gemma-plain" not in counts.licences
    live.observe("gemma-ft", "u1", now + timedelta(days=30))  # a new month starts anew
    assert live.snapshot().month == "2026-12" and round(live.snapshot().licences["gemma"]) == 1


def test_a_near_threshold_is_logged_once_and_exported(caplog: pytest.LogCaptureFixture) -> None:
    catalog = parse_catalog(users_catalog([10, 1000]))
    live = LiveEndUsers(catalog)
    metrics = Metrics()
    metrics.observe_state("revshare_licence_users_threshold", live.threshold_gauge)
    metrics.observe_state("revshare_model_end_users_estimate", live.model_gauge)
    now = datetime(2026, 11, 5, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="revshare.terms"):
        for n in range(9):
            live.observe("gemma-ft", f"u{n}", now)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["terms: the end users of licence gemma in 2026-11 are near its threshold of 10 (about 8 on "
                        "this gateway; exact: GET /admin/terms/users)"]
    assert value_of(metrics, "revshare_licence_users_threshold", {"licence": "gemma", "users": "10"}) == 1.0
    assert value_of(metrics, "revshare_licence_users_threshold", {"licence": "gemma", "users": "1000"}) == 0.0
    assert round(value_of(metrics, "revshare_model_end_users_estimate", {"model": "gemma-ft"})) == 9
    live.observe("gemma-ft", "u9", now)
    assert value_of(metrics, "revshare_licence_users_threshold", {"licence": "gemma", "users": "10"}) == 2.0
    assert len(caplog.records) == 2 and "over its threshold of 10" in caplog.records[1].getMessage()


@pytest.fixture
def upstream() -> Iterator[str]:
    with stub_upstream() as base:
        yield base


def test_a_gateway_records_the_hash_and_counts_it_live(upstream: str, sqlite_url: str) -> None:
    raw = stub_catalog_dict(upstream)
    raw["licences"] = [{"id": "gemma", "name": "Gemma Terms of Use", "version": "1",
                        "url": "https://ai.google.dev/gemma/terms", "mau_thresholds": [2]}]
    raw["models"][0]["licence"] = "gemma"
    with running_gateway(parse_catalog(raw, source="test.toml"), sqlite_url) as gw:
        sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["acme"], max_retries=0)
        for user in ("alice@example.com", "alice@example.com", None):
            extra = {"user": user} if user else {}
            sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                        **extra)
        rows = gw.ledger.records(customer="acme")
        assert [bool(r.end_user) for r in rows] == [True, True, False]
        assert rows[0].end_user == rows[1].end_user and "alice" not in rows[0].end_user
        admin = {"Authorization": f"Bearer {gw.admin_token}"}
        live = httpx.get(gw.url + "/admin/terms/users/live", headers=admin, timeout=30).json()
        assert live["models"] == [{"model": MODEL, "end_users": 2}] and live["terms"] == [
            {"terms_id": "gemma", "end_users": 2}]
        assert live["flagged"] == [{"terms_id": "gemma", "users": 2, "state": "over"}]
        scraped = httpx.get(gw.url + "/metrics", headers=admin, timeout=30).text
        assert f'revshare_model_end_users_estimate{{model="{MODEL}"}} 2.0' in scraped
        assert "acme" not in "\n".join(line for line in scraped.splitlines() if "end_users" in line)
        exact = httpx.get(gw.url + "/admin/terms/users", headers=admin, timeout=30).json()
        assert exact["counted"] == "end_users" and exact["terms"][0]["end_users"] == 2
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:  # the field as sent is nowhere in the ledger
        assert not any(b"alice" in line.encode() for line in db.iterdump())
