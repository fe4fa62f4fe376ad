"""A customer's invoices and receipts in the console: its own only (another's is a 404), each
invoice as issued, and a receipt with the command that verifies it, which does."""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from revshare.config import Catalog
from revshare.monthend.periods import close_period
from revshare.monthend.settle_run import settle_period
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
def acme(gw: Running, console: Console) -> ConsoleClient:
    client = console()
    assert client.login(gw.keys["acme"]).status_code == 303
    return client


def test_a_customer_lists_and_downloads_only_its_own_invoices(setup: tuple[Running, Catalog], acme: ConsoleClient,
                                                               tmp_path: Path) -> None:
    gw, catalog = setup
    use(gw, demo=1, acme=2)
    assert "No invoice yet" in acme.get("/console/me/invoices").text
    now = datetime.now(UTC)
    month = Period(now.year, now.month)
    close_period(gw.ledger, month, closed_by="test", early=True)
    run = settle_period(gw.ledger, catalog, month, tmp_path, settled_by="test")
    assert {i.customer for i in run.result.invoices} == {"demo", "acme"}
    page = acme.get("/console/me/invoices")
    links = re.findall(r'href="(/console/me/invoices/[^"]+)" download', page.text)
    assert len(links) == 1
    answer = acme.get(html.unescape(links[0]))
    assert answer.status_code == 200 and answer.json()["customer"] == "acme"
    assert hashlib.sha256(answer.content).hexdigest() == answer.headers["x-revshare-sha256"]
    mine = httpx.get(gw.url + "/v1/me/invoices", headers={"Authorization": f"Bearer {gw.keys['demo']}"}).json()
    (demo,) = mine["data"]
    assert acme.get(f"/console/me/invoices/{demo['period']}/{demo['name']}").status_code == 404
    assert acme.get(f"/console/me/invoices/{month.label}/nothing").status_code == 404


def test_a_receipt_and_the_command_that_verifies_it(gw: Running, acme: ConsoleClient, tmp_path: Path) -> None:
    ids = use(gw, acme=1, demo=1)
    page = acme.get("/console/me/receipts", params={"record_id": ids[0]})
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f'"record_id": "{ids[0]}"' in text or ids[0] in text
    command = re.search(r'<pre class="command verify"><code>(.*?)</code></pre>', text, re.S)
    assert command is not None
    fetch, verify = command[1].strip().splitlines()
    assert fetch == (f'curl -sf -H "Authorization: Bearer $OPENAI_API_KEY" "{gw.url}/v1/receipts/{ids[0]}" '
                     "> receipt.json")
    assert verify == f'revshare verify receipt receipt.json --key host.vkey --record-id "{ids[0]}"'
    # Run the command as the customer would: the receipt it fetches, and the host key held.
    receipt = httpx.get(f"{gw.url}/v1/receipts/{ids[0]}", headers={"Authorization": f"Bearer {gw.keys['acme']}"})
    (tmp_path / "receipt.json").write_bytes(receipt.content)
    (tmp_path / "host.vkey").write_text(httpx.get(gw.url + "/v1/log/vkey").text)
    args = verify.split()[1:]
    done = subprocess.run([sys.executable, "-m", "revshare.cli", *[a.strip('"') for a in args]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("record_id", "status", "message"), [
    ("rec_<script>", 400, "A record id is letters, digits"),
    ("rec_doesnotexist", 404, "You have no record"),
])
def test_a_bad_or_unknown_record_id(gw: Running, acme: ConsoleClient, record_id: str, status: int,
                                    message: str) -> None:
    page = acme.get("/console/me/receipts", params={"record_id": record_id})
    assert page.status_code == status and message in page.text and "<script>" not in page.text


def test_another_customers_record_is_a_404_not_a_leak(gw: Running, acme: ConsoleClient) -> None:
    (theirs,) = use(gw, demo=1)
    page = acme.get("/console/me/receipts", params={"record_id": theirs})
    assert page.status_code == 404 and "You have no record" in page.text and "gemma" not in page.text.split(
        "</form>", 1)[1]


def test_the_operator_cannot_use_a_customers_pages(operator: ConsoleClient) -> None:
    for path in ("/console/me/invoices", "/console/me/receipts"):
        assert operator.get(path).status_code == 403
