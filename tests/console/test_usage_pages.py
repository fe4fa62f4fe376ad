"""The usage pages over plain HTTP: the operator's overview (its landing page) and usage explorer,
and a customer's own usage, scoped by its session whatever its URL says; the CSV is exactly the
table's rows; bad filters get the page again with a message, status 400."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import openai
import pytest

from revshare.api.console.usage_view import Filters, Row, Shown, csv_cell, usage_csv
from revshare.config import parse_catalog
from revshare.reporting.fold import folded_seq
from tests.support.browser import ConsoleClient
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

Console = Callable[[], ConsoleClient]


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["server"]["rollup_interval_s"] = 0.2
        with running_gateway(parse_catalog(raw), sqlite_url) as running:
            yield running


def _use(gw: Running, **calls: int) -> None:
    """Requests with the `openai` SDK, per customer; back once the rollups hold them all."""
    for customer, n in calls.items():
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)
        for _ in range(n):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    appended, deadline = gw.ledger.count(), time.monotonic() + 20
    while folded_seq(gw.ledger) < appended:
        assert time.monotonic() < deadline, "the rollups did not catch up"
        time.sleep(0.05)


def _table(page: str) -> list[dict[str, str]]:
    """The usage table's rows: each cell's text by its label."""
    body = page.split('<table class="rows usage">', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r'<td data-label="([^"]*)"[^>]*>(.*?)</td>', tr, re.S)
        rows.append({label: html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for label, text in cells})
    return rows


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def customer(gw: Running, console: Console) -> ConsoleClient:
    client = console()
    assert client.login(gw.keys["acme"]).status_code == 303
    return client


def test_the_overview_is_the_operators_first_page_with_usage_by_model_and_invoice_figures(
        gw: Running, console: Console) -> None:
    _use(gw, demo=3, acme=2)
    client = console()
    assert client.login(gw.admin_token).headers["location"] == "/console/overview"
    page = client.get("/console/overview")
    assert page.status_code == 200
    text = page.text
    assert "As of record <strong>#5</strong>" in text and "UTC" in text
    block = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S)
    assert block is not None
    data = json.loads(block[1])
    assert [s["label"] for s in data["requests"]] == [MODEL] and sum(data["requests"][0]["values"]) == 5
    assert len(data["x"]) == 30 and data["granularity"] == "day"
    top = re.findall(r'<td data-label="Customer"><a [^>]*>([^<]+)</a></td>\s*<td data-label="Requests" class="num">(\d+)',
                     text)
    assert dict(top) == {"demo": "3", "acme": "2"}
    billing = httpx.get(gw.url + "/admin/billing", headers={"Authorization": f"Bearer {gw.admin_token}"}).json()
    for figures in billing["data"]:  # the same figures as the admin API's, to the cent
        row = text.split(f">{figures['customer']}</a></td>", 1)[1].split("</tr>", 1)[0]
        assert f'<td data-label="Subtotal" class="num">{figures["subtotal"]}</td>' in row
        assert f'<strong>{figures["total_due"]}</strong>' in row
    assert re.search(r"<script>(?!</script>)", text) is None  # no inline script: the CSP would refuse it


def test_the_csv_is_exactly_the_tables_rows(gw: Running, operator: ConsoleClient) -> None:
    _use(gw, demo=2, acme=1)
    query = {"group_by": "customer", "granularity": "hour"}
    page = operator.get("/console/usage", params=query)
    assert page.status_code == 200
    shown = _table(page.text)
    assert {row["Customer"]: row["Requests"] for row in shown} == {"demo": "2", "acme": "1"}
    found = re.search(r'<a class="button" href="([^"]+)" download>Download CSV', page.text)
    assert found is not None
    link = html.unescape(found[1])
    assert link.startswith("/console/usage.csv?") and "group_by=customer" in link and "granularity=hour" in link
    exported = operator.get(link)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith('attachment; filename="usage-')
    assert exported.text.splitlines()[0] == ("period_start_utc,customer,currency,requests,prompt_tokens,"
                                             "completion_tokens,cached_tokens,amount")
    rows = _csv(exported.text)
    assert [(r["customer"], r["requests"], r["amount"], r["currency"]) for r in rows] == [
        (s["Customer"], s["Requests"], s["Amount"], s["Currency"]) for s in shown]
    for row, cells in zip(rows, shown, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00Z", row["period_start_utc"])
        assert row["period_start_utc"].replace("T", " ")[:16] == cells["Hour"]
    for customer in ("demo", "acme"):
        exact = sum((r.amount for r in gw.ledger.records(customer=customer)), Decimal(0))
        assert sum(Decimal(r["amount"]) for r in rows if r["customer"] == customer) == exact
    one = operator.get("/console/usage.csv", params={"customer": "acme", "group_by": "model"})
    assert [(r["model"], r["requests"]) for r in _csv(one.text)] == [(MODEL, "1")]


def test_a_customer_sees_only_its_own_usage_whatever_the_url_says(gw: Running, customer: ConsoleClient) -> None:
    _use(gw, demo=3, acme=2)
    for params in ({}, {"customer": "demo"}, {"customer": "demo", "group_by": "model"}):
        page = customer.get("/console/me/usage", params=params)
        assert page.status_code == 200
        assert sum(int(row["Requests"]) for row in _table(page.text)) == 2, params
        assert 'name="customer"' not in page.text and "demo" not in page.text
        exported = customer.get("/console/me/usage.csv", params=params)
        assert sum(int(row["requests"]) for row in _csv(exported.text)) == 2
    by_key = _csv(customer.get("/console/me/usage.csv", params={"group_by": "key"}).text)
    assert {row["key"] for row in by_key} == {k.key_id for k in gw.ledger.keys("acme")}
    refused = customer.get("/console/me/usage", params={"group_by": "customer"})
    assert refused.status_code == 400 and 'id="e-group_by"' in refused.text
    for path in ("/console/overview", "/console/usage", "/console/usage.csv"):
        assert customer.get(path).status_code == 403, path


def test_the_operator_is_refused_a_customers_usage_page(operator: ConsoleClient) -> None:
    assert operator.get("/console/me/usage").status_code == 403


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "yesterday"}, "start"),
    ({"end": "2026-13-01"}, "end"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "end"),
    ({"start": "2026-01-01", "end": "2026-03-01", "granularity": "hour"}, "end"),
    ({"granularity": "week"}, "granularity"),
    ({"group_by": "colour"}, "group_by"),
    ({"customer": "x" * 129}, "customer"),
])
def test_bad_filters_get_the_page_again_with_a_message(operator: ConsoleClient, params: dict[str, str],
                                                        field: str) -> None:
    for path in ("/console/usage", "/console/usage.csv"):
        page = operator.get(path, params=params)
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html"), (path, page.text[:300])
        assert f'id="e-{field}"' in page.text and "Download CSV" not in page.text


def test_a_csv_cell_a_spreadsheet_would_run_is_written_after_a_quote() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "gemma", "")] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "gemma", ""]
    filters = Filters(date(2026, 11, 1), date(2026, 11, 30), "day", "customer", None)
    row = Row(datetime(2026, 11, 3, tzinfo=UTC), "=HYPERLINK(1)", "USD", 1, 2, 3, 0, Decimal("0.000000123"))
    text = usage_csv(filters, Shown((row,), 9)).decode()
    assert text.splitlines()[1] == "2026-11-03T00:00:00Z,'=HYPERLINK(1),USD,1,2,3,0,0.000000123"


def test_the_vendored_chart_library_is_served_with_its_licence(operator: ConsoleClient) -> None:
    for name, kind in (("uPlot.iife.min.js", "text/javascript"), ("uPlot.min.css", "text/css"),
                       ("uPlot.LICENSE.txt", "text/plain")):
        answer = operator.get(f"/console/static/vendor/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind), name
    assert "MIT" in operator.get("/console/static/vendor/uPlot.LICENSE.txt").text
    assert operator.get("/console/static/vendor/..%2Fconsole.js").status_code == 404
