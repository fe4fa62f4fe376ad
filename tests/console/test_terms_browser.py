"""The licence-terms pages in a real browser (Debian's Chromium, driven by Playwright): a customer
whose model requires acceptance is refused by the `openai` SDK, reads the terms (licence, version,
attribution, notice, use policy) on its console page, accepts, and the next call goes through; the
operator sees the acceptance (via console, by the customer's key) and a suspension in force, which
the customer's page then shows. Both pages are checked at 1280 and 390 px wide for overflow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from revshare.accounts.model_access import suspend
from revshare.accounts.store import Accounts, Actor
from revshare.config import parse_catalog
from tests.support.browser import NARROW, WIDE, chromium, screenshot_folder, shoot
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

pytestmark = pytest.mark.slow

TERMS = {"id": "gemma", "name": "Gemma Terms of Use", "version": "2025-03-24", "url": "https://ai.google.dev/gemma/terms",
         "use_policy_url": "https://ai.google.dev/gemma/prohibited_use_policy", "attribution": "Built with Gemma",
         "notice": "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms",
         "acceptance_required": True}


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["licences"] = [TERMS]
        raw["models"][0]["licence"] = "gemma"
        with running_gateway(parse_catalog(raw, source="test.toml"), sqlite_url) as running:
            yield running


def _login(page: Any, gw: Running, token: str) -> None:
    page.goto(gw.url + "/console/")
    page.fill("#f-token", token)
    page.click("button:has-text('Log in')")
    page.wait_for_load_state()


def _look(page: Any, name: str) -> None:
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size['width']}px window"
        shoot(page, screenshot_folder(), name)
    page.set_viewport_size(WIDE)


def _chat(gw: Running) -> Any:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["acme"], max_retries=0)
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)


def test_a_customer_reads_and_accepts_the_terms_and_the_operator_sees_it(gw: Running) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        _chat(gw)
    with chromium() as browser:
        page = browser.new_context(viewport=WIDE).new_page()
        _login(page, gw, gw.keys["acme"])
        page.click("nav >> text=Terms")
        assert page.url.endswith("/console/me/terms")
        card = page.inner_text("#terms-gemma")
        for shown in ("Gemma Terms of Use", "version 2025-03-24", "Not accepted", MODEL, "Built with Gemma",
                      TERMS["notice"], TERMS["use_policy_url"]):
            assert shown in card, shown
        _look(page, "terms-customer")
        page.click("button:has-text('Accept version 2025-03-24')")
        page.wait_for_load_state()
        assert page.url.endswith("/console/me/terms?done=accepted")
        assert "Accepted" in page.inner_text("#terms-gemma") and "via console" in page.inner_text("#terms-gemma")
        assert _chat(gw).usage is not None  # in force at once

        accounts = Accounts(gw.ledger)
        suspend(accounts, parse_catalog(stub_catalog_dict("http://127.0.0.1:9/v1")), "acme", MODEL,
                "AUP 3: reported", Actor("cli:ops", "cli"))
        operator = browser.new_context(viewport=WIDE).new_page()
        _login(operator, gw, gw.admin_token)
        operator.goto(gw.url + "/console/terms")
        users = operator.inner_text("table.users tbody tr")
        assert users.split()[:2] == ["gemma", "1"]  # this month: one end user (acme's key), from the record
        row = operator.inner_text("table.acceptances tbody tr")
        assert "acme" in row and "gemma" in row and "key:" in row and "via console" in row
        suspensions = operator.inner_text("table.suspensions tbody tr")
        assert "AUP 3: reported" in suspensions and "in force" in suspensions
        _look(operator, "terms-operator")

        warning = "is suspended for a violation of its use policy (AUP 3: reported)"
        for _ in range(40):  # the gateway's directory follows the accounts within accounts_refresh_s (1 s)
            page.goto(gw.url + "/console/me/terms")
            if warning in page.inner_text("main"):
                break
            page.wait_for_timeout(250)
        assert warning in page.inner_text("main")
        with pytest.raises(openai.PermissionDeniedError) as refused:
            _chat(gw)
        assert refused.value.code == "model_access_suspended"
