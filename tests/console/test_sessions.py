"""Console sessions over plain HTTP: what the login sets, what the cookie holds, how a session ends
(expiry, logout, a revoked key or token, a changed admin token), and the sealer's own rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import httpx

from revshare.api.console.session import COOKIE, LIFETIME_S, Sealer, Session
from revshare.logstore.identity import secret_path
from revshare.logstore.licensor_tokens import create_token, revoke_token
from tests.support.browser import ConsoleClient, csrf_of
from tests.support.servers import Running
from tests.support.stub_gateway import stub_catalog

Console = Callable[[], ConsoleClient]


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_the_admin_token_opens_an_operator_session_in_a_strict_httponly_cookie(gw: Running, console: Console) -> None:
    client = console()
    answer = client.login(gw.admin_token, who="Ops")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/overview"
    cookie = _set_cookies(answer)[COOKIE]
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= set(flags)
    assert flags["path"] == "Path=/console" and flags["samesite"].lower() == "samesite=strict"
    assert flags["max-age"] == f"Max-Age={LIFETIME_S}"
    assert "secure" not in flags  # plain http here; https below
    assert gw.admin_token not in cookie
    page = client.get("/console/customers")
    assert page.status_code == 200 and "Ops" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_cookie_is_secure_when_the_request_came_over_https(gw: Running) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its default), as behind a local TLS proxy.
    with httpx.Client(base_url=gw.url, headers={"X-Forwarded-Proto": "https"}) as http:
        page = http.get("/console/login")
        login_cookie = page.headers["set-cookie"]
        assert "; secure" in login_cookie.lower()
        # httpx keeps a Secure cookie for https URLs only: send it back by hand.
        answer = http.post("/console/login", data={"csrf": csrf_of(page.text), "token": gw.admin_token},
                           headers={"Cookie": login_cookie.partition(";")[0]})
        assert answer.status_code == 303
        assert "; secure" in _set_cookies(answer)[COOKIE].lower()


def test_each_kind_of_token_opens_its_role_and_no_secret_is_kept_in_the_cookie(gw: Running, console: Console) -> None:
    _, licensor_secret = create_token(gw.ledger, "google", "console test")
    for token, home in ((gw.keys["acme"], "/console/me"), (licensor_secret, "/console/licensor")):
        client = console()
        answer = client.login(token)
        assert answer.status_code == 303 and answer.headers["location"] == home
        assert client.session_cookie and token not in client.session_cookie
        assert client.get(home).status_code == 200


def test_a_wrong_token_gets_a_message_and_no_session(gw: Running, console: Console) -> None:
    client = console()
    for token in ("rsk_not-a-key", "rsl_not-a-token", "nonsense", gw.admin_token + "x"):
        answer = client.login(token)
        assert answer.status_code == 401
        assert "not the admin token, a live API key or a live licensor token" in answer.text
        assert COOKIE not in _set_cookies(answer) and client.session_cookie is None
        assert token not in answer.text  # the pasted value is not echoed back
    empty = client.login("   ")
    assert empty.status_code == 400 and "Paste a token" in empty.text
    assert client.get("/console/customers").status_code == 303


def test_a_login_without_the_login_forms_token_is_refused(gw: Running) -> None:
    with httpx.Client(base_url=gw.url) as http:  # no GET of the form first: no login cookie
        answer = http.post("/console/login", data={"csrf": "x", "token": gw.admin_token})
        assert answer.status_code == 403 and COOKIE not in answer.headers.get("set-cookie", "")


def test_no_session_sends_pages_to_the_login_and_refuses_forms(gw: Running, console: Console) -> None:
    client = console()
    for path in ("/console/", "/console/customers", "/console/keys", "/console/audit", "/console/me",
                 "/console/licensor"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login", path
    refused = client.post("/console/customers", {"name": "x", "csrf": "x"})
    assert refused.status_code == 403 and "log in again" in refused.text


def test_logout_ends_the_session_even_for_a_copy_of_its_cookie(gw: Running, operator: ConsoleClient) -> None:
    cookie = operator.session_cookie
    assert cookie
    answer = operator.post("/console/logout", {}, csrf_from="/console/customers")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login?done=out"
    assert operator.session_cookie is None
    with httpx.Client(base_url=gw.url, cookies={COOKIE: cookie}) as replay:
        assert replay.get("/console/customers").status_code == 303


def test_a_tampered_or_expired_cookie_is_no_session(gw: Running, operator: ConsoleClient) -> None:
    cookie = operator.session_cookie
    assert cookie
    payload, _, mac = cookie.partition(".")
    forged = payload.replace(payload[5], "A" if payload[5] != "A" else "B", 1) + "." + mac
    with httpx.Client(base_url=gw.url, cookies={COOKIE: forged}) as http:
        assert http.get("/console/customers").status_code == 303
    # The host's secret signs; an expired session it signed is still refused.
    secret = secret_path(stub_catalog("http://127.0.0.1:1/v1"))  # the gateway's <data_dir>/log.secret
    sealer = Sealer.of_secret(bytes.fromhex(secret.read_text().strip()))
    opened = sealer.open(cookie, time.time())
    assert opened is not None and opened.role == "operator" and opened.who == "Ops"
    expired = sealer.seal(replace(opened, expires=int(time.time()) - 1))
    with httpx.Client(base_url=gw.url, cookies={COOKIE: expired}) as http:
        assert http.get("/console/customers").status_code == 303
    customer = sealer.seal(replace(opened, role="customer", subject="demo"))
    with httpx.Client(base_url=gw.url, cookies={COOKIE: customer}) as http:  # not a live key id
        assert http.get("/console/me").status_code == 303


def test_revoking_the_credential_ends_its_sessions(gw: Running, console: Console) -> None:
    customer = console()
    assert customer.login(gw.keys["acme"]).status_code == 303
    token, secret = create_token(gw.ledger, "google")
    licensor = console()
    assert licensor.login(secret).status_code == 303
    assert licensor.get("/console/licensor").status_code == 200

    gw.ledger.revoke_keys([k.key_id for k in gw.ledger.keys("acme")])
    assert revoke_token(gw.ledger, token.token_id)
    assert customer.get("/console/me").status_code == 303
    assert licensor.get("/console/licensor").status_code == 303


def test_the_sealer_refuses_what_it_did_not_sign() -> None:
    sealer, other = Sealer(b"k" * 32), Sealer(b"o" * 32)
    session = Session("customer", "acme", "key_1", "", "ab" * 16, int(time.time()) + 60)
    sealed = sealer.seal(session)
    assert sealer.open(sealed, time.time()) == session
    assert other.open(sealed, time.time()) is None
    assert sealer.open(sealed, session.expires) is None  # expired at that second
    assert sealer.open(sealed.replace(".", ".x"), time.time()) is None
    assert sealer.open("garbage", time.time()) is None and sealer.open(".", time.time()) is None
    assert sealer.csrf(session) != other.csrf(session)
    assert sealer.fingerprint("token") != sealer.fingerprint("token2")
