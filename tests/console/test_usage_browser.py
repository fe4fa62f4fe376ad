"""The usage pages in a real browser (Debian's Chromium, driven by Playwright): the operator logs
in to the overview, two requests made with the `openai` SDK show up there within a few rollup
intervals, the charts are drawn (uPlot's canvas, under the console's strict CSP), and the usage
explorer's CSV download holds the table's rows. Both pages are checked at 1280 and 390 px wide for
sideways overflow; with REVSHARE_SCREENSHOTS=<folder>, each is saved there to be looked at."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from revshare.config import parse_catalog
from tests.support.browser import NARROW, WIDE, chromium, screenshot_folder, shoot
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

pytestmark = pytest.mark.slow


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["server"]["rollup_interval_s"] = 0.2
        with running_gateway(parse_catalog(raw), sqlite_url) as running:
            yield running


def _look(page: Any, name: str) -> None:
    """At both widths: the charts redrawn to fit, nothing wider than the window, a screenshot."""
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        page.wait_for_timeout(250)  # charts.js redraws 100 ms after a resize
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size['width']}px window"
        assert "UTC" in page.inner_text("main") and "times are UTC" in page.inner_text("footer")
        shoot(page, screenshot_folder(), name)
    page.set_viewport_size(WIDE)


def test_the_operator_sees_new_requests_in_the_overview_and_downloads_them_as_csv(gw: Running) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport=WIDE, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
        page.on("response", lambda answer: errors.append(f"{answer.status} {answer.url}")
                if answer.status >= 400 and "/console/static/" in answer.url else None)  # (not /favicon.ico)
        page.goto(gw.url + "/console/")
        page.fill("#f-token", gw.admin_token)
        page.click("button:has-text('Log in')")
        page.wait_for_load_state()
        assert page.url.endswith("/console/overview")
        assert "No usage in the last 30 days" in page.inner_text("main")

        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
        for _ in range(2):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        deadline = time.monotonic() + 20
        while "As of record #2" not in page.inner_text(".freshness"):
            assert time.monotonic() < deadline, "the overview never showed the two requests"
            page.wait_for_timeout(200)
            page.reload()
        assert page.inner_text(".stat-value >> nth=0").strip() == "2"
        assert page.locator("td[data-label=Customer]").all_inner_texts() == ["demo"]
        page.wait_for_selector(".chart canvas")
        # requests, tokens and revenue by model, and the error and refusal rates (no contract: no share chart)
        assert page.locator("figure.chart-box:visible").count() == 4
        box = page.locator(".chart canvas >> nth=0").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        _look(page, "overview")

        page.click("nav >> text=Usage")
        page.select_option("#f-group_by", "model")
        page.click("button:has-text('Show')")
        assert "group_by=model" in page.url
        page.wait_for_selector(".chart canvas")
        cells = page.locator("table.usage tbody tr >> nth=0").locator("td")
        shown = [c.strip() for c in cells.all_inner_texts()]
        _look(page, "usage")
        with page.expect_download() as waiting:
            page.click("text=Download CSV")
        download = waiting.value
        assert download.suggested_filename.startswith("usage-all-") and download.suggested_filename.endswith(".csv")
        with open(download.path(), encoding="utf-8") as file:
            rows = list(csv.DictReader(io.StringIO(file.read())))
        assert [(r["model"], r["requests"], r["currency"]) for r in rows] == [(MODEL, "2", shown[-1])]
        assert rows[0]["amount"] == shown[-2]
        assert Decimal(rows[0]["amount"]) == sum((r.amount for r in gw.ledger.records()), Decimal(0))
        assert rows[0]["period_start_utc"].startswith(shown[0]) and rows[0]["period_start_utc"].endswith("T00:00:00Z")

        assert errors == [], errors  # nothing refused by the CSP, no script error
        page.goto(gw.url + "/console/usage?start=someday")  # a bad filter: the form again, with a message
        assert "YYYY-MM-DD" in page.inner_text("#e-start")
        context.close()
