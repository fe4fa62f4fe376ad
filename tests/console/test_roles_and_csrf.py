"""Who may do what in the console, over plain HTTP: every POST needs its session's CSRF token, each
role reaches only its own pages (by URL or by a forged form), and a customer never sees or
revokes another customer's key. A refused request changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from revshare.accounts.store import Accounts
from revshare.logstore.licensor_tokens import create_token
from tests.support.browser import ConsoleClient
from tests.support.servers import Running

Console = Callable[[], ConsoleClient]

OPERATOR_PAGES = ("/console/customers", "/console/customers/demo", "/console/keys", "/console/audit",
                  "/console/keys/{key}", "/console/keys/{key}/revoke")
OPERATOR_FORMS = ("/console/customers", "/console/customers/demo", "/console/customers/demo/suspend",
                  "/console/keys", "/console/keys/{key}/label", "/console/keys/{key}/revoke")
NEW_CUSTOMER = {"name": "evil", "models": "*", "budget_period": "month"}


def _version(gw: Running) -> int:
    return Accounts(gw.ledger).version()


def _key_id(gw: Running, customer: str) -> str:
    return str(gw.ledger.keys(customer)[0].key_id)


@pytest.fixture
def customer(gw: Running, console: Console) -> ConsoleClient:
    client = console()
    assert client.login(gw.keys["acme"]).status_code == 303
    return client


@pytest.fixture
def licensor(gw: Running, console: Console) -> ConsoleClient:
    client = console()
    assert client.login(create_token(gw.ledger, "google")[1]).status_code == 303
    return client


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(gw: Running, operator: ConsoleClient,
                                                                              customer: ConsoleClient) -> None:
    before = _version(gw)
    missing = operator.post("/console/customers", NEW_CUSTOMER)
    assert missing.status_code == 403 and "CSRF" in missing.text
    wrong = operator.post("/console/customers", {**NEW_CUSTOMER, "csrf": "0" * 43})
    assert wrong.status_code == 403
    # Another session's token (a customer's, here) is no good for this one.
    borrowed = operator.post("/console/customers", {**NEW_CUSTOMER, "csrf": customer.csrf("/console/me")})
    assert borrowed.status_code == 403
    revoke = operator.post(f"/console/keys/{_key_id(gw, 'demo')}/revoke", {})
    assert revoke.status_code == 403
    logout = operator.post("/console/logout", {})
    assert logout.status_code == 403 and operator.get("/console/customers").status_code == 200
    assert _version(gw) == before and Accounts(gw.ledger).account("evil") is None
    assert gw.ledger.keys("demo")[0].revoked_at is None
    # With its token, the same form works.
    made = operator.post("/console/customers", NEW_CUSTOMER, csrf_from="/console/customers")
    assert made.status_code == 303 and Accounts(gw.ledger).account("evil") is not None


def test_customers_and_licensors_get_403_on_the_operators_pages_and_forms(gw: Running, customer: ConsoleClient,
                                                                         licensor: ConsoleClient) -> None:
    key = _key_id(gw, "demo")
    before = _version(gw)
    for client, own_page in ((customer, "/console/me"), (licensor, "/console/licensor")):
        for path in OPERATOR_PAGES:
            page = client.get(path.format(key=key))
            assert page.status_code == 403, path
            assert "operator&#39;s page; you are logged in as" in page.text
        for path in OPERATOR_FORMS:  # forged: the session's own valid CSRF token, the wrong role
            forged = client.post(path.format(key=key), {**NEW_CUSTOMER, "customer": "acme", "label": "x"},
                                 csrf_from=own_page)
            assert forged.status_code == 403, path
    assert _version(gw) == before and Accounts(gw.ledger).account("evil") is None
    assert gw.ledger.keys("demo")[0].revoked_at is None


def test_the_operator_and_licensor_get_403_on_customer_pages(gw: Running, operator: ConsoleClient,
                                                            licensor: ConsoleClient) -> None:
    for client in (operator, licensor):
        assert client.get("/console/me").status_code == 403
        assert client.get("/console/me/keys").status_code == 403
    assert operator.get("/console/licensor").status_code == 403
    refused = operator.post("/console/me/keys", {"label": "x"}, csrf_from="/console/customers")
    assert refused.status_code == 403


def test_a_customer_sees_and_revokes_only_its_own_keys(gw: Running, customer: ConsoleClient) -> None:
    own, other = _key_id(gw, "acme"), _key_id(gw, "demo")
    page = customer.get("/console/me/keys")
    assert page.status_code == 200 and own in page.text and other not in page.text
    assert customer.get(f"/console/me/keys/{other}/revoke").status_code == 404
    refused = customer.post(f"/console/me/keys/{other}/revoke", {}, csrf_from="/console/me/keys")
    assert refused.status_code == 404 and "among your keys" in refused.text
    assert customer.get("/console/me/keys/key_nonexistent/revoke").status_code == 404
    assert gw.ledger.keys("demo")[0].revoked_at is None

    made = customer.post("/console/me/keys", {"label": "ci"}, csrf_from="/console/me/keys")
    assert made.status_code == 201 and "shown this once" in made.text
    new = next(k for k in gw.ledger.keys("acme") if k.label == "ci")
    assert customer.get(f"/console/me/keys/{new.key_id}/revoke").status_code == 200
    revoked = customer.post(f"/console/me/keys/{new.key_id}/revoke", {}, csrf_from="/console/me/keys")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/console/me/keys?done=revoked"
    assert next(k for k in gw.ledger.keys("acme") if k.key_id == new.key_id).revoked_at is not None
    events = Accounts(gw.ledger).audit(customer="acme")
    assert [(e.action, e.actor, e.via) for e in events[-2:]] == [
        ("key.create", f"customer ({own})", "console"), ("key.revoke", f"customer ({own})", "console")]

    # Revoking the key the session was opened with ends the session.
    ended = customer.post(f"/console/me/keys/{own}/revoke", {}, csrf_from="/console/me/keys")
    assert ended.headers["location"] == "/console/login?done=ended"
    assert customer.get("/console/me").status_code == 303


def test_unknown_console_paths_are_html_404s_and_the_console_is_not_in_the_openapi_document(
        gw: Running, operator: ConsoleClient) -> None:
    page = operator.get("/console/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert operator.get("/console/static/../session.py").status_code == 404
    assert operator.get("/console/static/console.css").headers["content-type"].startswith("text/css")
    assert "/console" not in operator.get("/openapi.json").text
