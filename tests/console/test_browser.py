"""The console in a real browser (Debian's Chromium, driven by Playwright): the operator onboards a
customer and hands out a key that works with the official `openai` SDK, then revokes it and the
next call is refused; the customer sees only its own keys and is refused the operator's pages by
URL and by a forged form; a form without its CSRF token is refused; a wrong token gets a message
and no cookie. Every page is checked for overflow at 1280 and 390 px wide (no horizontal
scrolling); with REVSHARE_SCREENSHOTS=<folder>, each is saved there to be looked at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from revshare.accounts.store import Accounts
from revshare.logstore.licensor_tokens import create_token
from tests.support.browser import NARROW, WIDE, chromium, screenshot_folder, shoot
from tests.support.servers import Running
from tests.support.stub_gateway import MODEL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


def _chat(gw: Running, key: str) -> Any:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)


def _login(page: Any, gw: Running, token: str, who: str = "") -> None:
    page.goto(gw.url + "/console/")
    assert page.url.endswith("/console/login")
    page.fill("#f-token", token)
    if who:
        page.fill("#f-who", who)
    page.click("button:has-text('Log in')")
    page.wait_for_load_state()


def _look(page: Any, name: str) -> None:
    """At both widths: nothing wider than the window (no sideways scrolling), and a screenshot."""
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size['width']}px window"
        assert "times are UTC" in page.inner_text("footer")
        shoot(page, screenshot_folder(), name)
    page.set_viewport_size(WIDE)


def _post_form(page: Any, action: str, fields: dict[str, str], *, with_csrf: bool) -> int:
    """Submit a form the page did not offer (as a forger would), with or without the session's
    CSRF token; the status of the page it leads to."""
    script = """([action, fields, withCsrf]) => {
        const form = document.createElement("form");
        form.method = "post"; form.action = action;
        if (withCsrf) { fields.csrf = document.querySelector("input[name=csrf]").value; }
        for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();
    }"""
    with page.expect_navigation() as navigation:
        page.evaluate(script, [action, fields, with_csrf])
    return int(navigation.value.status)


def test_operator_onboards_a_customer_whose_key_works_until_revoked(gw: Running, browser: Any) -> None:
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    _login(page, gw, gw.admin_token, who="Ops")
    assert page.url.endswith("/console/overview")
    page.click("nav >> text=Customers")
    assert page.url.endswith("/console/customers")
    _look(page, "customers")

    page.fill("#f-name", "glob ex")  # bad input: a message next to the field, the field focused
    page.fill("#f-budget", "fifty")
    page.click("button:has-text('Create customer')")
    assert page.inner_text("#e-name").startswith("1 to 128 characters") and page.is_visible("#e-budget")
    assert page.evaluate("document.activeElement.id") == "f-name"
    _look(page, "customers-invalid")
    assert Accounts(gw.ledger).account("glob ex") is None

    page.fill("#f-name", "globex")
    page.fill("#f-models", "gemma-*")
    page.fill("#f-description", "Globex Corporation, <script>alert('x')</script>")
    page.fill("#f-budget", "50")
    page.click("button:has-text('Create customer')")
    assert page.url.endswith("/console/customers/globex?done=created")
    assert page.inner_text(".notice") == "Customer created."
    assert "<script>alert('x')</script>" in page.inner_text("main")  # shown as text, never run

    page.click("text=New key for globex")
    assert page.input_value("#f-customer") == "globex"
    page.fill("#f-label", "production")
    page.click("button:has-text('Create key')")
    secret = page.input_value("#secret")
    assert secret.startswith("rsk_") and page.is_visible("button:has-text('Copy')")
    assert "shown this once" in page.inner_text(".warning")
    _look(page, "key-created")

    answer = _chat(gw, secret)
    assert answer.usage is not None and answer.usage.completion_tokens > 0

    page.goto(gw.url + "/console/keys?customer=globex")
    _look(page, "keys")
    page.click("a:has-text('Revoke')")
    assert "cannot be undone" in page.inner_text("main")
    _look(page, "key-revoke")
    page.click("button:has-text('Revoke the key')")
    assert page.inner_text(".notice").startswith("Key revoked")
    with pytest.raises(openai.AuthenticationError):
        _chat(gw, secret)

    page.goto(gw.url + "/console/customers/globex")
    _look(page, "customer")
    page.goto(gw.url + "/console/audit?customer=globex")
    assert [a.strip() for a in page.locator("td[data-label=Action]").all_inner_texts()] == [
        "customer.create", "key.create", "key.revoke"]
    assert "admin (Ops)" in page.inner_text("table")
    _look(page, "audit")

    # A form without the session's CSRF token is refused, and nothing is made.
    assert _post_form(page, "/console/customers", {"name": "forged", "models": "*"}, with_csrf=False) == 403
    assert "CSRF" in page.inner_text("main")
    _look(page, "error")
    assert Accounts(gw.ledger).account("forged") is None
    context.close()


def test_a_customer_sees_only_its_own_keys_and_none_of_the_operators_pages(gw: Running, browser: Any) -> None:
    accounts = Accounts(gw.ledger)
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    _login(page, gw, gw.keys["acme"])
    assert page.url.endswith("/console/me")
    _look(page, "me")
    page.click("nav >> text=Keys")
    own = {k.key_id for k in gw.ledger.keys("acme")}
    shown = {text.split()[0] for text in page.locator("td[data-label=Key]").all_inner_texts()}
    assert shown == own and not shown & {k.key_id for k in gw.ledger.keys("demo")}
    page.fill("#f-label", "laptop")
    page.click("button:has-text('Create key')")
    assert page.input_value("#secret").startswith("rsk_")
    page.click("text=Done")
    _look(page, "me-keys")

    response = page.goto(gw.url + "/console/customers")
    assert response.status == 403 and "logged in as customer" in page.inner_text("main")
    for path in ("/console/customers", "/console/keys"):  # a forged POST, with this session's own token
        page.goto(gw.url + "/console/me/keys")
        assert _post_form(page, path, {"name": "evil", "models": "*", "customer": "demo"}, with_csrf=True) == 403
    assert accounts.account("evil") is None and len(gw.ledger.keys("demo")) == 1
    other = gw.ledger.keys("demo")[0].key_id
    assert page.goto(gw.url + f"/console/me/keys/{other}/revoke").status == 404
    context.close()


def test_a_wrong_token_gets_a_message_and_no_cookie_and_a_licensor_sees_its_log(gw: Running, browser: Any) -> None:
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    _login(page, gw, "rsk_this-is-not-a-key")
    assert page.url.endswith("/console/login")
    assert "not the admin token, a live API key or a live licensor token" in page.inner_text("#e-token")
    assert "revshare_console" not in {c["name"] for c in context.cookies()}
    _look(page, "login-refused")

    _login(page, gw, create_token(gw.ledger, "google")[1])
    assert page.url.endswith("/console/licensor")
    assert "google" in page.inner_text("dl") and "/v1/log/google/checkpoint" in page.inner_text("main")
    cookie = next(c for c in context.cookies() if c["name"] == "revshare_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    _look(page, "licensor")
    page.click("button:has-text('Log out')")
    assert page.url.endswith("/console/login?done=out") and "logged out" in page.inner_text(".notice")
    assert "revshare_console" not in {c["name"] for c in context.cookies()}
    context.close()
