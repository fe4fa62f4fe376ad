"""The overview's licensor share per day (equal to the statement the close then issues, to the
cent) and its error and refusal rates by outcome."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
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


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[tuple[Running, Catalog]]:
    with contracted_gateway(sqlite_url) as both:
        yield both


@pytest.fixture
def gw(setup: tuple[Running, Catalog]) -> Running:
    return setup[0]


def _chart(text: str) -> dict[str, list[dict[str, object]]]:
    block = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S)
    assert block is not None
    data: dict[str, list[dict[str, object]]] = json.loads(block[1])
    return data


def test_the_overviews_licensor_share_is_what_the_statement_earns(setup: tuple[Running, Catalog],
                                                                   operator: ConsoleClient, tmp_path: Path) -> None:
    gw, catalog = setup
    use(gw, demo=3, acme=2)
    text = operator.get("/console/overview").text
    row = re.search(r'<td data-label="Licensor">google</td><td data-label="Share" class="num">([0-9.]+)</td>', text)
    assert row is not None
    shown = Decimal(row[1])
    data = _chart(text)
    assert [s["label"] for s in data["share"]] == ["google (USD)"]
    values = data["share"][0]["values"]
    assert isinstance(values, list) and values[-1] == float(shown)  # all of it today (UTC)
    now = datetime.now(UTC)
    month = Period(now.year, now.month)
    close_period(gw.ledger, month, closed_by="test", early=True)
    run = settle_period(gw.ledger, catalog, month, tmp_path, settled_by="test")
    (statement,) = run.result.statements
    assert statement.totals.earned == shown > Decimal(1)


def test_the_overview_shows_how_requests_ended(gw: Running, operator: ConsoleClient) -> None:
    use(gw, acme=2)
    refused = httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {gw.keys['acme']}"},
                         json={"model": "llama-nope", "messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code >= 400
    text = operator.get("/console/overview").text
    rates = {s["label"]: s["values"] for s in _chart(text)["rates"]}
    assert set(rates) == {"engine errors (%)", "refusals (%)"}
    outcomes = {o: (int(n.replace(",", "")), rate) for o, n, rate in re.findall(
        r'<td data-label="Outcome"><a [^>]*>(\w+)</a></td><td data-label="Meaning">[^<]*</td>'
        r'<td data-label="Requests" class="num">([\d,]+)</td><td data-label="Rate" class="num">([\d.]+%)</td>', text)}
    records = [r for r in gw.ledger.records() if r.seq is not None and r.seq <= int(re.search(
        r"As of record <strong>#(\d+)</strong>", text)[1])]  # type: ignore[index]
    counted = {o: sum(1 for r in records if r.outcome.value == o) for o in outcomes}
    assert {o: n for o, (n, _) in outcomes.items()} == counted and outcomes["ok"][0] == 2
    assert outcomes["engine_error"] == (0, "0.00%")
