"""Closed periods, statements and invoices over HTTP, each to whom it concerns: the operator all of
them, a customer key its customer's invoices, a licensor token its statements; a document served
byte for byte as issued (its SHA-256 the one stored); anyone else's is a 404."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from revshare.config import load_catalog
from revshare.logstore.licensor_tokens import create_token
from revshare.monthend.periods import close_period
from revshare.monthend.settle_run import settle_period
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period
from tests.support.paths import REPO
from tests.support.servers import Running, running_gateway

OCT = Period(2026, 10)


def _records() -> list[UsageRecord]:
    start = datetime(2026, 10, 3, tzinfo=UTC)
    return [UsageRecord(
        id=f"rec_doc{i:06d}", started_at=start + timedelta(hours=i), ended_at=start + timedelta(hours=i),
        customer=("demo", "acme")[i % 2], key_id="key_1", model="gemma-3-270m", engine="local",
        endpoint="chat.completions", outcome=Outcome.OK, prompt_tokens=100_000, completion_tokens=50_000,
        amount=Decimal("0.030000000000"), currency="USD", price_version="gemma-3-270m@2026-01-01T00:00:00Z",
        licensors=("google",)) for i in range(20)]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    catalog = load_catalog(REPO / "revshare.toml")
    url = f"sqlite:///{tmp_path_factory.mktemp('documents') / 'ledger.db'}"
    with running_gateway(catalog, url, engines={}) as running:
        running.ledger.append_now(_records())
        close_period(running.ledger, OCT, closed_by="test")
        settle_period(running.ledger, catalog, OCT, tmp_path_factory.mktemp("out"), settled_by="test")
        yield running


def _get(gw: Running, path: str, token: str) -> httpx.Response:
    return httpx.get(gw.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_the_operator_sees_the_close_and_every_document(gw: Running) -> None:
    (period,) = _get(gw, "/admin/periods", gw.admin_token).json()["data"]
    assert period["period"] == "2026-10" and period["settled"] and period["last_seq"] == 20
    documents = _get(gw, "/admin/documents?period=2026-10", gw.admin_token).json()["data"]
    assert {(d["kind"], d["for"]) for d in documents} == {("statement", "google"), ("invoice", "acme"),
                                                          ("invoice", "demo")}
    for d in documents:
        answer = _get(gw, f"/admin/documents/2026-10/{d['name']}", gw.admin_token)
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == d["sha256"] == answer.headers["x-revshare-sha256"]


def test_a_customer_reads_its_invoices_and_no_one_elses(gw: Running) -> None:
    mine = _get(gw, "/v1/me/invoices", gw.keys["acme"]).json()["data"]
    assert [d["for"] for d in mine] == ["acme"]
    invoice = _get(gw, f"/v1/me/invoices/2026-10/{mine[0]['name']}", gw.keys["acme"]).json()
    assert invoice["customer"] == "acme" and invoice["total_due"] == "0.30"
    theirs = [d for d in _get(gw, "/admin/documents", gw.admin_token).json()["data"] if d["for"] != "acme"]
    for d in theirs:
        assert _get(gw, f"/v1/me/invoices/2026-10/{d['name']}", gw.keys["acme"]).status_code == 404


def test_a_licensor_reads_its_statements_only_with_its_token(gw: Running) -> None:
    _, token = create_token(gw.ledger, "google")
    (statement,) = _get(gw, "/v1/licensor/statements", token).json()["data"]
    body = _get(gw, f"/v1/licensor/statements/2026-10/{statement['name']}", token)
    assert json.loads(body.content)["licensor"] == "google"
    invoice = next(d for d in _get(gw, "/admin/documents", gw.admin_token).json()["data"] if d["kind"] == "invoice")
    assert _get(gw, f"/v1/licensor/statements/2026-10/{invoice['name']}", token).status_code == 404
    for wrong in (gw.keys["demo"], gw.admin_token, "rsl_nothing"):
        assert _get(gw, "/v1/licensor/statements", wrong).status_code == 401
    assert _get(gw, "/admin/documents", token).status_code == 401
    assert _get(gw, "/v1/me/invoices", token).status_code == 401
