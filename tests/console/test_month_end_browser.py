"""The month-end, log and document pages in a real browser (Debian's Chromium, driven by
Playwright): the operator sees the licensor share chart, refuses a bad close, closes and settles
the month through the forms and sees its documents, and reads the logs; the customer finds its
invoice and a receipt with its verify command, and is refused the periods page by URL and by a
forged form; the licensor reads its statement. Every page is checked at 1280 and 390 px wide for
sideways overflow; with REVSHARE_SCREENSHOTS=<folder>, each is saved there to be looked at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from revshare.config import Catalog
from revshare.logstore.licensor_tokens import create_token
from tests.console.contracted import contracted_gateway, use
from tests.support.browser import NARROW, WIDE, chromium, screenshot_folder, shoot
from tests.support.servers import Running

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[tuple[Running, Catalog]]:
    with contracted_gateway(sqlite_url) as both:
        yield both


def _login(page: Any, gw: Running, token: str) -> None:
    page.goto(gw.url + "/console/")
    page.fill("#f-token", token)
    page.click("button:has-text('Log in')")
    page.wait_for_load_state()


def _look(page: Any, name: str) -> None:
    """At both widths: nothing wider than the window (no sideways scrolling), and a screenshot."""
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        page.wait_for_timeout(250)  # charts.js redraws 100 ms after a resize
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size['width']}px window"
        assert "times are UTC" in page.inner_text("footer")
        shoot(page, screenshot_folder(), name)
    page.set_viewport_size(WIDE)


def _forge(page: Any, action: str, fields: dict[str, str]) -> int:
    """Post a form the page did not offer, with the session's own CSRF token; the answer's status."""
    script = """([action, fields]) => {
        const form = document.createElement("form");
        form.method = "post"; form.action = action;
        fields.csrf = document.querySelector("input[name=csrf]").value;
        for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();
    }"""
    with page.expect_navigation() as navigation:
        page.evaluate(script, [action, fields])
    return int(navigation.value.status)


def test_month_end_logs_invoices_receipts_and_statements(setup: tuple[Running, Catalog]) -> None:
    gw, _ = setup
    ids = use(gw, demo=3, acme=2)
    now = datetime.now(UTC)
    month = f"{now.year:04d}-{now.month:02d}"
    with chromium() as browser:
        page = browser.new_context(viewport=WIDE).new_page()
        _login(page, gw, gw.admin_token)
        page.wait_for_selector("[data-metric=share] canvas")  # the licensor share chart is drawn
        assert "google" in page.inner_text("table.shares") and "ok" in page.inner_text("table.outcomes")
        _look(page, "console-overview-share")

        page.click("nav >> text=Periods")
        page.fill("#f-period", "2026-13")
        page.click("button:has-text('Close period')")
        assert "The period is a month" in page.inner_text("[role=alert]") and "No period is closed" in page.inner_text(
            "table.periods")
        _look(page, "console-periods-refused")
        page.fill("#f-period", month)
        page.check("input[name=early]")
        page.click("button:has-text('Close period')")
        assert f"Close {month} early?" in page.inner_text("h1")  # asked first: nothing closed yet
        _look(page, "console-period-close")
        page.click(f"button:has-text('Yes, close {month}')")
        assert "Period closed" in page.inner_text(".notice")
        page.click(f"button:has-text('Settle {month}')")
        assert "Period settled" in page.inner_text(".notice")
        documents = page.inner_text("table.periods")
        assert "statement google" in documents and "invoice acme" in documents and "invoice demo" in documents
        _look(page, "console-periods")

        page.click("nav >> text=Logs")
        assert "google" in page.inner_text("table.logs") and "ok" in page.inner_text("table.logs")
        _look(page, "console-logs")

        customer = browser.new_context(viewport=WIDE).new_page()
        _login(customer, gw, gw.keys["acme"])
        customer.click("nav >> text=Invoices")
        assert month in customer.inner_text("table.invoices") and "Download JSON" in customer.inner_text("main")
        _look(customer, "console-me-invoices")
        customer.click("nav >> text=Receipts")
        customer.fill("#f-record_id", ids[3])  # one of acme's
        customer.click("button:has-text('Look up')")
        assert f'revshare verify receipt receipt.json --key host.vkey --record-id "{ids[3]}"' in customer.inner_text(
            "pre.verify")
        _look(customer, "console-me-receipt")
        customer.fill("#f-record_id", ids[0])  # demo's
        customer.click("button:has-text('Look up')")
        assert "You have no record" in customer.inner_text("#e-record_id")
        assert customer.goto(gw.url + "/console/periods").status == 403
        customer.goto(gw.url + "/console/me/receipts")
        assert _forge(customer, "/console/periods/close", {"period": "2026-01", "confirm": "yes"}) == 403

        licensor = browser.new_context(viewport=WIDE).new_page()
        _login(licensor, gw, create_token(gw.ledger, "google")[1])
        assert month in licensor.inner_text("table.statements")
        _look(licensor, "console-licensor")
        licensor.click(f"table.statements >> text={month}")
        assert "Statement 1" in licensor.inner_text("h1") and "Earned" in licensor.inner_text("main")
        _look(licensor, "console-statement")
