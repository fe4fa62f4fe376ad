"""Acceptances in the database: recorded once per version, audited, append-only, loaded into the
directory a gateway serves from; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from revshare.accounts.errors import AccountError
from revshare.accounts.store import Accounts, Actor
from revshare.accounts.terms import accept, acceptances, standings
from revshare.config import Catalog, parse_catalog
from revshare.ledger.store import Ledger
from revshare.metering.admission import Ask, admit
from revshare.metering.meter import Admitted
from revshare.metering.refusal import Refusal, RefusalKind
from tests.support.catalogs import catalog_dict

OPS = Actor("cli:ops", "cli")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def terms_catalog(version: str = "1", **terms: Any) -> Catalog:
    raw = catalog_dict()
    raw["licences"] = [{"id": "gemma", "name": "Gemma Terms of Use", "version": version,
                        "url": "https://ai.google.dev/gemma/terms", "acceptance_required": True, **terms}]
    raw["models"][0]["licence"] = "gemma"
    raw["models"].append({"id": "gemma-plain", "engine": "local"})
    raw["prices"].append({**raw["prices"][0], "model": "gemma-plain"})
    return parse_catalog(raw, source="test.toml")


@pytest.fixture
def accounts(ledger: Ledger) -> Accounts:
    accounts = Accounts(ledger)
    accounts.import_catalog(terms_catalog(), Actor("test.toml", "catalog"))
    return accounts


def ask(model: str = "gemma-3-270m", customer: str = "acme") -> Ask:
    return Ask(customer, "key_1", model, "chat.completions", False)


def test_an_acceptance_is_recorded_once_audited_and_in_the_next_directory(accounts: Accounts) -> None:
    catalog = terms_catalog()
    version = accounts.version()
    refused = admit(catalog, {"local"}, ask(), NOW, customers=accounts.load())
    assert isinstance(refused, Refusal) and refused.kind is RefusalKind.TERMS_NOT_ACCEPTED
    assert "Gemma Terms of Use, version 1" in refused.message and "https://ai.google.dev/gemma/terms" in refused.message
    assert "POST /v1/me/terms/gemma/accept" in refused.message and refused.param == "model"
    # Only the model under these terms is refused.
    assert isinstance(admit(catalog, {"local"}, ask("gemma-plain"), NOW, customers=accounts.load()), Admitted)

    acceptance, recorded = accept(accounts, catalog, "acme", "gemma", "1", OPS, "order form 114")
    assert recorded and (acceptance.customer, acceptance.licence, acceptance.version) == ("acme", "gemma", "1")
    assert (acceptance.actor, acceptance.via, acceptance.note) == ("cli:ops", "cli", "order form 114")
    assert accounts.version() == version + 1
    directory = accounts.load()
    assert directory.accepted_versions("acme", "gemma") == {"1"}
    assert isinstance(admit(catalog, {"local"}, ask(), NOW, customers=directory), Admitted)
    assert isinstance(admit(catalog, {"local"}, ask(customer="demo"), NOW, customers=directory), Refusal)

    again, recorded_again = accept(accounts, catalog, "acme", "gemma", "1", Actor("key:key_2", "api"))
    assert not recorded_again and again == acceptance and accounts.version() == version + 1
    (event,) = [e for e in accounts.audit() if e.action == "terms.accept"]
    assert (event.subject, event.customer, event.actor, event.via) == ("gemma", "acme", "cli:ops", "cli")
    assert event.detail == {"before": None, "after": {"licence": "gemma", "version": "1", "note": "order form 114"}}
    assert acceptances(accounts, customer="acme") == [acceptance]


def test_only_the_current_version_of_known_terms_may_be_accepted_by_a_known_customer(accounts: Accounts) -> None:
    catalog = terms_catalog(version="2")
    before = (accounts.version(), accounts.audit())
    with pytest.raises(AccountError) as stale:
        accept(accounts, catalog, "acme", "gemma", "1", OPS)
    assert stale.value.kind == "conflict" and stale.value.param == "version"
    assert "'2', not '1'" in stale.value.message and "https://ai.google.dev/gemma/terms" in stale.value.message
    with pytest.raises(AccountError) as unknown_terms:
        accept(accounts, catalog, "acme", "llama3.3", "2", OPS)
    assert unknown_terms.value.kind == "not_found" and "known: gemma" in unknown_terms.value.message
    with pytest.raises(AccountError) as unknown_customer:
        accept(accounts, catalog, "globex", "gemma", "2", OPS)
    assert unknown_customer.value.kind == "not_found" and unknown_customer.value.param == "customer"
    with pytest.raises(AccountError) as bad_via:
        accept(accounts, catalog, "acme", "gemma", "2", Actor("x", "serve"))
    assert bad_via.value.param == "via"
    assert (accounts.version(), accounts.audit()) == before and acceptances(accounts) == []


def test_a_new_version_blocks_after_its_grace_period(accounts: Accounts) -> None:
    accept(accounts, terms_catalog(version="1"), "acme", "gemma", "1", OPS)
    effective = NOW - timedelta(days=10)
    v2 = terms_catalog(version="2", effective_from=effective.isoformat(), grace_days=30)
    directory = accounts.load()
    assert isinstance(admit(v2, {"local"}, ask(), NOW, customers=directory), Admitted)  # within the grace
    late = effective + timedelta(days=30)
    refused = admit(v2, {"local"}, ask(), late, customers=directory)
    assert isinstance(refused, Refusal) and refused.kind is RefusalKind.TERMS_NOT_ACCEPTED
    assert "accepted version 1" in refused.message and "grace period" in refused.message
    (standing,) = standings(v2, directory.customer("acme"), acceptances(accounts), late)  # type: ignore[arg-type]
    assert standing.standing == "pending" and standing.models == ("gemma-3-270m",)
    accept(accounts, v2, "acme", "gemma", "2", OPS)
    assert isinstance(admit(v2, {"local"}, ask(), late, customers=accounts.load()), Admitted)
    assert [(a.version, a.seq) for a in acceptances(accounts, licence="gemma")] == [("1", 1), ("2", 2)]


def test_acceptances_are_append_only(accounts: Accounts, ledger: Ledger) -> None:
    accept(accounts, terms_catalog(), "acme", "gemma", "1", OPS)
    for statement in ("UPDATE terms_acceptances SET version = '0'", "DELETE FROM terms_acceptances"):
        with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(statement))
    assert [a.version for a in acceptances(accounts)] == ["1"]


def test_a_catalog_alone_has_accepted_nothing() -> None:
    catalog = terms_catalog()
    refused = admit(catalog, {"local"}, ask(), NOW)
    assert isinstance(refused, Refusal) and refused.kind is RefusalKind.TERMS_NOT_ACCEPTED
    optional = terms_catalog(acceptance_required=False)
    assert isinstance(admit(optional, {"local"}, ask(), NOW), Admitted)
