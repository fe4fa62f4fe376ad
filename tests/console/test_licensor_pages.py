"""A licensor's pages: its statements (page, JSON as issued, CSV of the lines, bundle that
`revshare verify statement` accepts), its log's checkpoints, the commands; another licensor's
statement is a 404."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from revshare.config import Catalog
from revshare.logstore.licensor_tokens import create_token
from revshare.monthend.periods import close_period
from revshare.monthend.settle_run import settle_period
from revshare.monthend.statement_bundle import statement_logs
from revshare.settlement import Period
from tests.console.contracted import contracted_gateway, use
from tests.support.browser import ConsoleClient
from tests.support.servers import Running

Console = Callable[[], ConsoleClient]


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[tuple[Running, Catalog]]:
    with contracted_gateway(sqlite_url) as both:
        yield both


@pytest.fixture
def gw(setup: tuple[Running, Catalog]) -> Running:
    return setup[0]


@pytest.fixture
def google(gw: Running, console: Console) -> ConsoleClient:
    client = console()
    assert client.login(create_token(gw.ledger, "google")[1]).status_code == 303
    return client


def _settled(gw: Running, catalog: Catalog, tmp_path: Path) -> Period:
    use(gw, demo=2, acme=1)
    time.sleep(0.5)  # a checkpoint signed by the log service
    now = datetime.now(UTC)
    month = Period(now.year, now.month)
    closed = close_period(gw.ledger, month, closed_by="test", early=True)
    refs = statement_logs(gw.ledger, catalog, closed, None)
    settle_period(gw.ledger, catalog, month, tmp_path / "out", settled_by="test", log=refs)
    return month


def test_a_licensor_sees_downloads_and_verifies_its_statement(setup: tuple[Running, Catalog], google: ConsoleClient,
                                                               tmp_path: Path) -> None:
    gw, catalog = setup
    month = _settled(gw, catalog, tmp_path)
    page = google.get("/console/licensor")
    assert page.status_code == 200
    listed = httpx.get(gw.url + "/admin/documents", params={"kind": "statement"},
                       headers={"Authorization": f"Bearer {gw.admin_token}"}).json()["data"]
    (doc,) = listed
    base = f"/console/licensor/statements/{month.label}/{doc['name']}"
    assert f'href="{base}"' in page.text and f'href="/console/licensor/bundles/{month.label}.zip"' in page.text
    assert "Checkpoints over time" in page.text and '<td data-label="Size" class="num">3</td>' in page.text
    view = google.get(base)
    issued = google.get(base + ".json")
    body = json.loads(issued.content)
    assert hashlib.sha256(issued.content).hexdigest() == doc["sha256"] == issued.headers["x-revshare-sha256"]
    assert view.status_code == 200 and body["totals"]["earned"] in view.text and doc["sha256"] in view.text
    lines = google.get(base + ".csv").text.splitlines()
    assert lines[0].startswith("period,contract,currency,segment,model") and len(lines) == 1 + len(body["lines"])
    bundle = google.get(f"/console/licensor/bundles/{month.label}.zip")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(tmp_path)
    (tmp_path / "host.vkey").write_text(httpx.get(gw.url + "/v1/log/vkey").text)
    folder = f"google-{month.label}"
    assert f"revshare verify statement {folder} --key host.vkey" in page.text
    done = subprocess.run([sys.executable, "-m", "revshare.cli", "verify", "statement", folder, "--key", "host.vkey"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_another_licensors_statement_is_a_404(setup: tuple[Running, Catalog], console: Console,
                                              tmp_path: Path) -> None:
    gw, catalog = setup
    month = _settled(gw, catalog, tmp_path)
    other = console()
    assert other.login(create_token(gw.ledger, "meta")[1]).status_code == 303
    listed = httpx.get(gw.url + "/admin/documents", params={"kind": "statement"},
                       headers={"Authorization": f"Bearer {gw.admin_token}"}).json()["data"]
    name = listed[0]["name"]
    for suffix in ("", ".json", ".csv"):
        assert other.get(f"/console/licensor/statements/{month.label}/{name}{suffix}").status_code == 404
    assert other.get(f"/console/licensor/bundles/{month.label}.zip").status_code == 404
    assert "No statement yet" in other.get("/console/licensor").text


def test_customers_and_the_operator_cannot_read_a_licensors_pages(gw: Running, operator: ConsoleClient,
                                                                  console: Console) -> None:
    customer = console()
    assert customer.login(gw.keys["acme"]).status_code == 303
    for client in (operator, customer):
        assert client.get("/console/licensor").status_code == 403
        assert client.get("/console/licensor/bundles/2026-01.zip").status_code == 403
