"""Licence terms through a running gateway (stub upstream), with the official `openai` client: a
customer that has not accepted gets 403 `terms_not_accepted` on that model only, accepting lets
the next call through, a new version blocks after its grace period, /v1/models passes the terms
on, and the operator records and lists acceptances."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest

from revshare.accounts.store import Accounts, Actor
from revshare.accounts.terms import accept
from revshare.config import Catalog, parse_catalog
from revshare.instants import format_instant, utc_now
from revshare.ledger.store import Ledger
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

PLAIN = "gemma-plain"  # a model bound by no terms
TERMS = {"id": "gemma", "name": "Gemma Terms of Use", "version": "2025-03-24", "url": "https://ai.google.dev/gemma/terms",
         "use_policy_url": "https://ai.google.dev/gemma/prohibited_use_policy", "attribution": "Built with Gemma",
         "acceptance_required": True}


def terms_catalog(base_url: str, **terms: Any) -> Catalog:
    raw = stub_catalog_dict(base_url)
    raw["licences"] = [{**TERMS, **terms}]
    raw["models"][0]["licence"] = "gemma"
    raw["models"].append({"id": PLAIN, "engine": "stub"})
    raw["prices"].append({**raw["prices"][0], "model": PLAIN})
    return parse_catalog(raw, source="test.toml")


@pytest.fixture
def upstream() -> Iterator[str]:
    with stub_upstream() as base:
        yield base


def client(gw: Running, customer: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)


def chat(gw: Running, model: str = MODEL, customer: str = "acme") -> Any:
    return client(gw, customer).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                        max_tokens=4)


def me(gw: Running, customer: str = "acme") -> httpx.Client:
    return httpx.Client(base_url=gw.url + "/v1/me", timeout=30, headers={"Authorization": f"Bearer {gw.keys[customer]}"})


def admin(gw: Running) -> httpx.Client:
    return httpx.Client(base_url=gw.url + "/admin", timeout=30,
                        headers={"Authorization": f"Bearer {gw.admin_token}", "Revshare-Actor": "ops@example.com"})


def test_a_customer_is_refused_until_it_accepts_then_served(upstream: str, sqlite_url: str) -> None:
    with running_gateway(terms_catalog(upstream), sqlite_url) as gw, me(gw) as mine:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(gw)
        assert refused.value.code == "terms_not_accepted" and refused.value.param == "model"
        message = refused.value.body["message"]  # type: ignore[index]
        assert "Gemma Terms of Use, version 2025-03-24" in message and "https://ai.google.dev/gemma/terms" in message
        assert "POST /v1/me/terms/gemma/accept" in message
        assert chat(gw, PLAIN).usage is not None  # that model only
        assert len(gw.ledger.records(customer="acme")) == 1  # a refusal leaves no record

        (pending,) = mine.get("/terms").json()["data"]
        assert pending["status"] == "pending" and pending["models"] == [MODEL] and pending["acceptances"] == []
        assert pending["accept_url"] == "/v1/me/terms/gemma/accept"

        stale = mine.post("/terms/gemma/accept", json={"version": "2024-02-21"})
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "terms_version_mismatch"
        assert mine.post("/terms/llama/accept", json={"version": "1"}).json()["error"]["code"] == "terms_not_found"
        assert mine.post("/terms/gemma/accept", json={"version": 1}).status_code == 400
        accepted = mine.post("/terms/gemma/accept", json={"version": "2025-03-24"})
        assert accepted.status_code == 201, accepted.text
        body = accepted.json()
        assert (body["customer"], body["terms_id"], body["version"], body["via"], body["recorded"]) == (
            "acme", "gemma", "2025-03-24", "api", True)
        assert body["actor"].startswith("key:key_")

        answer = chat(gw)  # in force on this gateway at once
        assert answer.usage is not None and answer.usage.completion_tokens > 0
        with pytest.raises(openai.PermissionDeniedError):
            chat(gw, customer="demo")  # another customer has not accepted

        again = mine.post("/terms/gemma/accept", json={"version": "2025-03-24"})
        assert again.status_code == 200 and again.json()["recorded"] is False and again.json()["seq"] == body["seq"]
        (done,) = mine.get("/terms").json()["data"]
        assert done["status"] == "accepted" and [a["seq"] for a in done["acceptances"]] == [body["seq"]]

        with admin(gw) as ops:
            events = ops.get("/audit", params={"customer": "acme"}).json()["data"]
            assert [e["action"] for e in events if e["action"].startswith("terms")] == ["terms.accept"]
            listed = ops.get("/terms/acceptances", params={"customer": "acme"}).json()
            assert [a["seq"] for a in listed["data"]] == [body["seq"]] and listed["next_after_seq"] == body["seq"]


def test_the_operator_records_an_acceptance_given_offline(upstream: str, sqlite_url: str) -> None:
    with running_gateway(terms_catalog(upstream), sqlite_url) as gw, admin(gw) as ops:
        made = ops.post("/customers/demo/terms/gemma/accept", json={"version": "2025-03-24", "note": "order form 7"})
        assert made.status_code == 201, made.text
        assert (made.json()["actor"], made.json()["via"], made.json()["note"]) == (
            "admin (ops@example.com)", "api", "order form 7")
        assert chat(gw, customer="demo").usage is not None
        unknown = ops.post("/customers/globex/terms/gemma/accept", json={"version": "2025-03-24"})
        assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "customer"
        everyone = ops.get("/terms/acceptances").json()["data"]
        assert [(a["customer"], a["note"]) for a in everyone] == [("demo", "order form 7")]


def test_a_new_version_is_served_within_its_grace_period_and_refused_after(upstream: str, sqlite_url: str) -> None:
    ledger = Ledger(sqlite_url)
    ledger.migrate()
    accounts = Accounts(ledger)
    first = terms_catalog(upstream, version="1")
    accounts.import_catalog(first, Actor("test.toml", "catalog"))
    accept(accounts, first, "acme", "gemma", "1", Actor("cli:ops", "cli"))
    now = utc_now()
    within = terms_catalog(upstream, version="2", effective_from=format_instant(now - timedelta(days=10)),
                           grace_days=30)
    with running_gateway(within, sqlite_url) as gw, me(gw) as mine:
        assert chat(gw).usage is not None
        (grace,) = mine.get("/terms").json()["data"]
        assert grace["status"] == "grace" and grace["grace_until"] == format_instant(now + timedelta(days=20))
    after = terms_catalog(upstream, version="2", effective_from=format_instant(now - timedelta(days=31)),
                          grace_days=30)
    with running_gateway(after, sqlite_url) as gw, me(gw) as mine:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(gw)
        assert refused.value.code == "terms_not_accepted" and "accepted version 1" in str(refused.value)
        assert mine.post("/terms/gemma/accept", json={"version": "2"}).status_code == 201
        assert chat(gw).usage is not None
    ledger.close()


def test_models_carry_their_terms_and_the_sdk_reads_them(upstream: str, sqlite_url: str) -> None:
    with running_gateway(terms_catalog(upstream), sqlite_url) as gw:
        models = {m.id: m for m in client(gw).models.list()}
        assert set(models) == {MODEL, PLAIN}
        (terms,) = models[MODEL].model_extra["licences"]  # type: ignore[index]
        assert terms == {"id": "gemma", "name": "Gemma Terms of Use", "version": "2025-03-24",
                         "url": "https://ai.google.dev/gemma/terms",
                         "use_policy_url": "https://ai.google.dev/gemma/prohibited_use_policy",
                         "attribution": "Built with Gemma", "acceptance_required": True, "status": "pending"}
        assert models[PLAIN].model_extra["licences"] == []  # type: ignore[index]
        assert models[MODEL].owned_by == "google"
