"""Onboarding through the admin API while the gateway runs, checked with the official `openai`
client: a customer and a key made, used, limited, suspended and revoked, each in force at once on
this gateway and within seconds on another one sharing the database; every change audited; bad
input refused naming the field and changing nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from revshare.api.app import create_app
from revshare.api.connections import connection_protocol
from revshare.ledger.store import Ledger
from tests.support.servers import Running, ServerThread, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog, stub_upstream

ADMIN_HEADERS = {"Revshare-Actor": "ops@example.com"}


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as running:
        yield running


def _admin(gw: Running) -> httpx.Client:
    return httpx.Client(base_url=gw.url + "/admin", timeout=30,
                        headers={"Authorization": f"Bearer {gw.admin_token}", **ADMIN_HEADERS})


def _client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def _chat(url: str, key: str) -> Any:
    return _client(url, key).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                     max_tokens=4)


def test_a_customer_onboarded_through_the_api_is_served_limited_suspended_and_revoked(gw: Running) -> None:
    with _admin(gw) as admin:
        made = admin.post("/customers", json={"name": "globex", "models": ["gemma-*"], "budget": "50.00"})
        assert made.status_code == 201, made.text
        assert made.json()["source"] == "api" and made.json()["budget"] == "50.00"
        key = admin.post("/keys", json={"customer": "globex", "label": "prod"}).json()
        assert key["secret"].startswith("rsk_") and key["limits"] is None

        answer = _chat(gw.url, key["secret"])  # no restart, no file
        assert answer.usage is not None and answer.usage.completion_tokens > 0
        assert gw.ledger.records(customer="globex")[0].key_id == key["key_id"]

        assert admin.patch("/customers/globex", json={"models": ["llama-*"]}).status_code == 200
        with pytest.raises(openai.PermissionDeniedError):
            _chat(gw.url, key["secret"])
        admin.patch("/customers/globex", json={"models": ["*"]})

        limited = admin.patch(f"/keys/{key['key_id']}", json={"limits": {"requests_per_minute": 1}})
        assert limited.json()["limits"]["requests_per_minute"] == 1
        _chat(gw.url, key["secret"])
        with pytest.raises(openai.RateLimitError):
            _chat(gw.url, key["secret"])
        admin.patch(f"/keys/{key['key_id']}", json={"limits": None})

        assert admin.patch("/customers/globex", json={"suspended": True}).json()["suspended_at"]
        with pytest.raises(openai.PermissionDeniedError) as suspended:
            _client(gw.url, key["secret"]).models.list()
        assert suspended.value.code == "customer_suspended"
        admin.patch("/customers/globex", json={"suspended": False})
        assert [m.id for m in _client(gw.url, key["secret"]).models.list()] == [MODEL]

        assert admin.post(f"/keys/{key['key_id']}/revoke").json()["revoked_at"]
        with pytest.raises(openai.AuthenticationError):
            _chat(gw.url, key["secret"])

        events = admin.get("/audit", params={"customer": "globex"}).json()["data"]
        assert [e["action"] for e in events] == [
            "customer.create", "key.create", "customer.update", "customer.update", "key.limits", "key.limits",
            "customer.suspend", "customer.resume", "key.revoke"]
        assert {e["actor"] for e in events} == {"admin (ops@example.com)"} and {e["via"] for e in events} == {"api"}
        assert key["secret"] not in str(events)


def test_the_catalogs_customers_are_listed_and_not_editable_here(gw: Running) -> None:
    with _admin(gw) as admin:
        listed = {c["name"]: c for c in admin.get("/customers").json()["data"]}
        assert listed["demo"]["source"] == "catalog"
        refused = admin.patch("/customers/demo", json={"description": "edited"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "managed_by_catalog"
        assert admin.get("/customers/demo").json()["description"] == listed["demo"]["description"]


@pytest.mark.parametrize(("method", "path", "body", "status", "param"), [
    ("post", "/customers", {"name": "bad name"}, 400, "name"),
    ("post", "/customers", {"name": "x", "budget": 50.5}, 400, "budget"),
    ("post", "/customers", {"name": "x", "budget": "-1"}, 400, "budget"),
    ("post", "/customers", {"name": "x", "requests_per_minute": "5"}, 400, "requests_per_minute"),
    ("post", "/customers", {"name": "x", "requests_per_minute": 2**63}, 400, "requests_per_minute"),
    ("post", "/customers", {"name": "x", "models": []}, 400, "models"),
    ("post", "/customers", {"name": "x", "colour": "red"}, 400, "colour"),
    ("post", "/customers", {"name": "demo"}, 409, "name"),
    ("patch", "/customers/demo2", {"description": "x"}, 404, "customer"),
    ("patch", "/customers/globex", {"models": None}, 400, "models"),
    ("patch", "/customers/globex", {"suspended": "yes"}, 400, "suspended"),
    ("post", "/keys", {"customer": "nobody"}, 404, "customer"),
    ("post", "/keys", {"customer": "globex", "label": "x" * 129}, 400, "label"),
    ("post", "/keys", {"customer": "globex", "limits": {"budget_period": "week"}}, 400, "limits.budget_period"),
    ("post", "/keys/key_000000000000/revoke", None, 404, "key_id"),
])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(gw: Running, method: str, path: str,
                                                                   body: Any, status: int, param: str) -> None:
    with _admin(gw) as admin:
        admin.post("/customers", json={"name": "globex"})
        before = admin.get("/audit").json()["data"]
        answer = admin.request(method.upper(), path, json=body)
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert error["param"] == param, error
        assert admin.get("/audit").json()["data"] == before


def test_customer_keys_and_no_token_cannot_reach_the_accounts(gw: Running) -> None:
    for headers in ({}, {"Authorization": f"Bearer {gw.keys['demo']}"}):
        with httpx.Client(base_url=gw.url + "/admin", timeout=30, headers=headers) as client:
            assert client.post("/customers", json={"name": "sneaky"}).status_code == 401
            assert client.get("/audit").status_code == 401
    with _admin(gw) as admin:
        assert "sneaky" not in {c["name"] for c in admin.get("/customers").json()["data"]}


def test_a_change_on_one_gateway_is_in_force_on_another_within_seconds(sqlite_url: str) -> None:
    """Two gateways on one database: the second learns of a customer, a key and its revocation
    by polling the accounts' version (`server.accounts_refresh_s`)."""
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as gw:
        catalog = stub_catalog(base)
        other_app = create_app(catalog, admin_token="rsa_other", ledger=Ledger(sqlite_url))
        with ServerThread(other_app, http=connection_protocol(catalog.server), ws="none") as other, \
                _admin(gw) as admin:
            admin.post("/customers", json={"name": "initech"})
            key = admin.post("/keys", json={"customer": "initech"}).json()
            _eventually(lambda: _chat(other.url, key["secret"]))
            _chat(other.url, key["secret"])  # the key is cached there now
            admin.post(f"/keys/{key['key_id']}/revoke")
            started = time.monotonic()
            _eventually(lambda: _refused(other.url, key["secret"]))
            assert time.monotonic() - started < 10


def _refused(url: str, key: str) -> None:
    try:
        _chat(url, key)
    except openai.AuthenticationError:
        return
    raise AssertionError("still served")


def _eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except (AssertionError, openai.APIStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
