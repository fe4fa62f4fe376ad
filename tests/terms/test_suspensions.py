"""Suspension of one customer's access to one model for a use-policy violation: 403
`model_access_suspended` on that model only, for that customer only, until lifted; append-only
and audited; through the admin API (a running gateway, the official SDK) and `revshare terms`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from revshare.accounts.errors import AccountError
from revshare.accounts.model_access import history, lift, suspend
from revshare.accounts.store import Accounts, Actor
from revshare.cli import app
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from tests.support.paths import REPO
from tests.support.servers import running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream

PLAIN = "gemma-plain"
OPS = Actor("admin (ops@example.com)", "api")


@pytest.fixture
def upstream() -> Iterator[str]:
    with stub_upstream() as base:
        yield base


def two_models(upstream: str) -> dict[str, object]:
    raw = stub_catalog_dict(upstream)
    raw["models"].append({"id": PLAIN, "engine": "stub"})
    raw["prices"].append({**raw["prices"][0], "model": PLAIN})
    return raw


def test_a_suspended_customer_is_refused_that_model_only_until_lifted(upstream: str, sqlite_url: str) -> None:
    with running_gateway(parse_catalog(two_models(upstream), source="test.toml"), sqlite_url) as gw:
        sdk = {c: openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[c], max_retries=0) for c in ("acme", "demo")}

        def chat(customer: str, model: str = MODEL) -> object:
            return sdk[customer].chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                         max_tokens=4)

        ops = httpx.Client(base_url=gw.url + "/admin", timeout=30, headers={
            "Authorization": f"Bearer {gw.admin_token}", "Revshare-Actor": "ops@example.com"})
        made = ops.post(f"/customers/acme/models/{MODEL}/suspend", json={"reason": "AUP 2.a, licensor report 7"})
        assert made.status_code == 201, made.text
        assert (made.json()["action"], made.json()["actor"], made.json()["via"]) == (
            "suspend", "admin (ops@example.com)", "api")
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat("acme")
        assert refused.value.code == "model_access_suspended" and refused.value.param == "model"
        assert "AUP 2.a, licensor report 7" in str(refused.value) and "other models are not affected" in str(
            refused.value)
        records = len(gw.ledger.records(customer="acme"))
        assert chat("acme", PLAIN) is not None and chat("demo") is not None  # that model, that customer only
        assert len(gw.ledger.records(customer="acme")) == records + 1  # the refusal left no record

        again = ops.post(f"/customers/acme/models/{MODEL}/suspend", json={"reason": "twice"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        assert ops.post("/customers/acme/models/nope/suspend", json={"reason": "x"}).status_code == 404
        assert ops.post(f"/customers/acme/models/{MODEL}/suspend", json={"reason": ""}).status_code == 400
        assert ops.post(f"/customers/globex/models/{MODEL}/suspend", json={"reason": "x"}).status_code == 404

        lifted = ops.post(f"/customers/acme/models/{MODEL}/lift", json={"reason": "remediated, ticket 88"})
        assert lifted.status_code == 201 and lifted.json()["action"] == "lift"
        assert chat("acme") is not None
        listed = ops.get("/suspensions", params={"customer": "acme"}).json()
        assert [(s["action"], s["reason"]) for s in listed["data"]] == [
            ("suspend", "AUP 2.a, licensor report 7"), ("lift", "remediated, ticket 88")]
        events = ops.get("/audit", params={"customer": "acme"}).json()["data"]
        assert [e["action"] for e in events if e["action"].startswith("model.")] == ["model.suspend", "model.lift"]
        scraped = httpx.get(gw.url + "/metrics", headers={"Authorization": f"Bearer {gw.admin_token}"}).text
        assert 'revshare_refusals_total{kind="model_access_suspended"} 1.0' in scraped


def test_the_history_is_append_only(ledger: Ledger) -> None:
    catalog = parse_catalog(two_models("http://127.0.0.1:9/v1"))
    accounts = Accounts(ledger)
    accounts.import_catalog(catalog, Actor("test.toml", "catalog"))
    suspend(accounts, catalog, "acme", MODEL, "AUP", OPS)
    with pytest.raises(AccountError, match="is not suspended"):
        lift(accounts, catalog, "acme", PLAIN, "never was", OPS)
    for statement in ("UPDATE model_suspensions SET reason = 'x'", "DELETE FROM model_suspensions"):
        with pytest.raises(DatabaseError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(statement))
    assert [s.reason for s in history(accounts)] == ["AUP"]
    assert accounts.load().suspension("acme", MODEL) == "AUP" and accounts.load().suspension("acme", PLAIN) is None


def test_the_cli_suspends_lists_and_lifts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "revshare.toml"
    path.write_text((REPO / "revshare.toml").read_text())
    monkeypatch.setenv("REVSHARE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("REVSHARE_CONFIG", str(path))
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("LOGNAME", "tester")
    runner = CliRunner()
    made = runner.invoke(app, ["terms", "suspend", "gemma-3-270m", "--customer", "demo", "--reason", "AUP 4"])
    assert made.exit_code == 0 and "access to 'gemma-3-270m' suspended (seq 1)" in made.output, made.output
    twice = runner.invoke(app, ["terms", "suspend", "gemma-3-270m", "--customer", "demo", "--reason", "AUP 4"])
    assert twice.exit_code == 1 and "already suspended" in twice.output
    blank = runner.invoke(app, ["terms", "suspend", "gemma-3-270m", "--customer", "demo", "--reason", " "])
    assert blank.exit_code == 1 and blank.output.startswith("error: --reason (reason): ")
    unknown = runner.invoke(app, ["terms", "suspend", "nope", "--customer", "demo", "--reason", "x"])
    assert unknown.exit_code == 1 and "MODEL: no model 'nope'" in unknown.output
    lifted = runner.invoke(app, ["terms", "lift", "gemma-3-270m", "--customer", "demo", "--reason", "fixed"])
    assert lifted.exit_code == 0 and "restored (suspension lifted) (seq 2)" in lifted.output
    listed = runner.invoke(app, ["terms", "suspensions", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["action"], r["actor"], r["via"]) for r in rows] == [("suspend", "cli:tester", "cli"),
                                                                   ("lift", "cli:tester", "cli")]
