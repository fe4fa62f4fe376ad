"""The record list pages in a real browser (Debian's Chromium, driven by Playwright): the operator
finds the records of requests made with the `openai` SDK, filters them with the form (the filters
go into the address), pages on with the cursor link; a customer sees only its own, its ids linking
to their receipts, and is refused the operator's list. Both pages are checked at 1280 and 390 px
wide for sideways overflow; with REVSHARE_SCREENSHOTS=<folder>, each is saved there."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from revshare.api.console import pages_records
from tests.support.browser import NARROW, WIDE, chromium, screenshot_folder, shoot
from tests.support.servers import Running
from tests.support.stub_gateway import MODEL

pytestmark = pytest.mark.slow


def _look(page: Any, name: str) -> None:
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size['width']}px window"
        shoot(page, screenshot_folder(), name)
    page.set_viewport_size(WIDE)


def _ids(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("td[data-label=Record]").all_inner_texts()]


def test_operator_and_customer_page_through_the_records_in_a_browser(
        gw: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_records, "PAGE_SIZE", 2)
    for customer, n in (("demo", 3), ("acme", 2)):
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)
        for _ in range(n):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    demo = [r.id for r in gw.ledger.records(customer="demo")]
    acme = [r.id for r in gw.ledger.records(customer="acme")]
    with chromium() as browser:
        page = browser.new_context(viewport=WIDE).new_page()
        page.goto(gw.url + "/console/")
        page.fill("#f-token", gw.admin_token)
        page.click("button:has-text('Log in')")
        page.wait_for_load_state()
        page.click("nav >> text=Records")
        assert page.url.endswith("/console/records") and len(_ids(page)) == 2
        page.fill("#f-customer", "demo")
        page.select_option("#f-outcome", "ok")
        page.click("button:has-text('Show')")
        assert "customer=demo" in page.url and "outcome=ok" in page.url
        assert _ids(page) == demo[:2]
        _look(page, "records")
        page.click("text=Next page")
        assert "customer=demo" in page.url and "after=" in page.url
        assert _ids(page) == demo[2:] and page.input_value("#f-customer") == "demo"
        assert "No more records." in page.inner_text("main")
        page.click("text=First page")
        assert _ids(page) == demo[:2]

        mine = browser.new_context(viewport=WIDE).new_page()
        mine.goto(gw.url + "/console/")
        mine.fill("#f-token", gw.keys["acme"])
        mine.click("button:has-text('Log in')")
        mine.wait_for_load_state()
        mine.click("nav >> text=Records")
        assert mine.url.endswith("/console/me/records") and _ids(mine) == acme
        assert mine.locator("#f-customer").count() == 0
        mine.goto(gw.url + "/console/me/records?customer=demo")  # the session says whose, not the URL
        assert _ids(mine) == acme
        _look(mine, "my-records")
        mine.click(f"text={acme[0]}")
        assert "/console/me/receipts?record_id=" in mine.url and acme[0] in mine.inner_text("main")
        refused = mine.goto(gw.url + "/console/records")
        assert refused is not None and refused.status == 403
