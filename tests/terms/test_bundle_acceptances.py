"""The licensor's statement bundle carries the acceptance history of the terms binding its models
(signed, pseudonymous, as of the close) and the statements their monthly active users; `revshare
verify statement` checks the history's signature and form, and a bundle without it verifies as before."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from revshare.accounts.model_access import lift, suspend
from revshare.accounts.store import Accounts, Actor
from revshare.accounts.terms import accept
from revshare.config import load_catalog
from revshare.ledger.store import Ledger
from revshare.logstore.identity import load_identity
from revshare.records.projection import customer_pseudonym
from revshare.settlement.bundle_acceptances import ACCEPTANCES, ACCEPTANCES_SIG, AcceptanceHistory
from revshare.tlog import HostKey
from tests.support.settled_bundles import Env, two_months
from tests.support.statement_bundles import catalog_toml

LICENCE = """
[[licences]]
id = "gemma"
name = "Gemma Terms of Use"
version = "2025-03-24"
url = "https://ai.google.dev/gemma/terms"
acceptance_required = false

[[licences]]
id = "llama3"
name = "Llama 3 Community License Agreement"
version = "2024-04-18"
url = "https://www.llama.com/llama3/license/"
"""
ST = "statement-google-google-gemma-2026-02"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, Path, Path]:
    tmp = tmp_path_factory.mktemp("acceptances")
    config = tmp / "revshare.toml"
    text = catalog_toml(f"sqlite:///{tmp / 'ledger.db'}", tmp / "data")
    text = text.replace('licensor = "google"\n', 'licensor = "google"\nlicence = "gemma"\n', 1)
    text = text.replace('licensor = "meta"\n', 'licensor = "meta"\nlicence = "llama3"\n', 1)
    config.write_text(text + LICENCE)
    catalog = load_catalog(config)
    ledger = Ledger(catalog.database_url())
    ledger.migrate()
    accounts = Accounts(ledger)
    accounts.import_catalog(catalog, Actor("revshare.toml", "catalog"))
    early = datetime(2026, 1, 2, tzinfo=UTC)
    accept(accounts, catalog, "acme", "gemma", "2025-03-24", Actor("key:key_acme", "api"), now=early)
    accept(accounts, catalog, "demo", "gemma", "2025-03-24", Actor("admin (ops@example.com)", "api"),
           note="order form 7", now=early)
    accept(accounts, catalog, "demo", "llama3", "2024-04-18", Actor("cli:ops", "cli"), now=early)  # meta's: not here
    ops = Actor("admin (ops@example.com)", "api")
    suspend(accounts, catalog, "internal", "gemma-ft", "AUP: reported by google", ops, now=early)
    lift(accounts, catalog, "internal", "gemma-ft", "remediated", Actor("cli:ops", "cli"), now=early)
    suspend(accounts, catalog, "acme", "llama-3-8b", "AUP", ops, now=early)  # meta's model: not in google's bundle
    env = Env(ledger, config, tmp)
    jan, feb = two_months(env)
    return env, jan, feb


def test_the_bundle_carries_the_licensors_acceptances_as_pseudonyms(bundles: tuple[Env, Path, Path]) -> None:
    env, _, feb = bundles
    history = AcceptanceHistory.from_json(load(feb / ACCEPTANCES))
    secret = load_identity(load_catalog(env.config)).secret
    assert (history.licensor, history.period) == ("google", "2026-02")
    assert [t.id for t in history.licences] == ["gemma"]
    assert [(a.customer, a.terms_id, a.version, a.accepted_at, a.via, a.by) for a in history.acceptances] == [
        (customer_pseudonym(secret, "acme"), "gemma", "2025-03-24", "2026-01-02T00:00:00Z", "api", "key"),
        (customer_pseudonym(secret, "demo"), "gemma", "2025-03-24", "2026-01-02T00:00:00Z", "api", "admin")]
    text = (feb / ACCEPTANCES).read_text()
    assert "acme" not in text and "ops@example.com" not in text and "order form" not in text
    leaves = [json.loads(line) for line in (feb / "leaves.jsonl").read_text().splitlines()]
    internal = customer_pseudonym(secret, "internal")
    assert [(s.customer, s.model, s.action, s.by) for s in history.suspensions] == [
        (internal, "gemma-ft", "suspend", "admin"), (internal, "gemma-ft", "lift", "cli")]
    assert "AUP" not in text and "remediated" not in text  # the operator's free text stays with the host
    unaccepted = {leaf["customer"] for leaf in leaves} - {a.customer for a in history.acceptances}
    assert unaccepted == {customer_pseudonym(secret, "internal")}  # what a licensor can match against usage


def test_statements_show_monthly_active_users(bundles: tuple[Env, Path, Path]) -> None:
    _, jan, _ = bundles
    users = load(jan / "statement-google-google-gemma-2026-01.json")["users"]
    # January's records of gemma and its fine-tune before the close: acme, demo and internal, each with
    # one key and no `user` (a failed call counts; llama's do not)
    assert (users["end_users"], users["customers"], users["keys"]) == (3, 3, 3)
    assert [(m["model"], m["end_users"]) for m in users["models"]] == [("gemma-3-270m", 3), ("gemma-ft", 1)]


def test_verify_checks_the_history_and_takes_a_bundle_without_it(bundles: tuple[Env, Path, Path],
                                                                  tmp_path: Path) -> None:
    env, _, feb = bundles
    key = str(feb / "host.vkey")
    code, out = env.run("verify", "statement", str(feb), "--key", key)
    assert code == 0 and "OK: acceptances.json is signed: 2 acceptances of 1 licences' terms and 2 suspensions " \
        "through" in out, out

    changed = shutil.copytree(feb, tmp_path / "changed")
    doc = load(changed / ACCEPTANCES)
    doc["acceptances"].pop()
    (changed / ACCEPTANCES).write_bytes(rfc8785.dumps(doc) + b"\n")
    code, out = env.run("verify", "statement", str(changed), "--key", key)
    assert code == 1 and "acceptances.sig does not verify under the trusted key" in out, out

    host = HostKey.load(env.tmp / "data" / "log.key")
    doc["acceptances"][0]["by"] = "someone"
    (changed / ACCEPTANCES).write_bytes(rfc8785.dumps(doc) + b"\n")
    sig = load(changed / ACCEPTANCES_SIG)
    sig.update(signature=host.sign_json(doc))
    sig.pop("sha256")
    (changed / ACCEPTANCES_SIG).write_bytes(rfc8785.dumps(sig) + b"\n")
    code, out = env.run("verify", "statement", str(changed), "--key", key)
    assert code == 1 and 'acceptances.json: acceptances[0]: "via" is one of api, console, cli' in out, out

    older = shutil.copytree(feb, tmp_path / "older")
    (older / ACCEPTANCES).unlink()
    (older / ACCEPTANCES_SIG).unlink()
    code, out = env.run("verify", "statement", str(older), "--key", key)
    assert code == 0 and "acceptances.json" not in out and f"OK: {ST} verifies" in out, out
