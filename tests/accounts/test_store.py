"""Accounts in the database: every change audited once, the catalog winning for what it names,
refusals naming the field, the audit trail append-only, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from revshare.accounts.errors import AccountError
from revshare.accounts.store import Accounts, Actor, customer_of, limits_of
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from tests.support.catalogs import catalog_dict

OPS = Actor("ops@example.com", "cli")
CATALOG = Actor("revshare.toml", "catalog")


@pytest.fixture
def accounts(ledger: Ledger) -> Accounts:
    return Accounts(ledger)


def test_a_customer_is_created_changed_suspended_and_resumed_with_one_event_each(accounts: Accounts) -> None:
    start = accounts.version()
    accounts.create_customer(customer_of("globex", {"models": ["gemma-*"], "budget": "100.00"}), OPS)
    changed = accounts.update_customer("globex", {"requests_per_minute": 60}, OPS)
    assert changed.customer.requests_per_minute == 60 and str(changed.customer.budget) == "100.00"
    assert accounts.update_customer("globex", {"suspended": True}, OPS).suspended
    assert accounts.load().customer("globex") is None  # suspended: not served
    assert not accounts.update_customer("globex", {"suspended": False}, OPS).suspended
    assert accounts.load().customer("globex") is not None
    events = accounts.audit()
    assert [e.action for e in events] == ["customer.create", "customer.update", "customer.suspend",
                                         "customer.resume"]
    assert all(e.actor == "ops@example.com" and e.via == "cli" and e.subject == "globex" for e in events)
    assert events[1].detail["before"]["requests_per_minute"] is None
    assert events[1].detail["after"]["requests_per_minute"] == 60
    assert accounts.version() == start + 4


def test_a_change_that_changes_nothing_is_not_audited_and_keeps_the_version(accounts: Accounts) -> None:
    accounts.create_customer(customer_of("globex", {}), OPS)
    version = accounts.version()
    accounts.update_customer("globex", {"models": ["*"]}, OPS)
    assert accounts.version() == version and len(accounts.audit()) == 1


@pytest.mark.parametrize(("fields", "param"), [
    ({"budget": "abc"}, "budget"),
    ({"requests_per_minute": 0}, "requests_per_minute"),
    ({"budget_period": "week"}, "budget_period"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_values_are_refused_naming_the_field_and_change_nothing(accounts: Accounts, fields: dict[str, object],
                                                                    param: str) -> None:
    accounts.create_customer(customer_of("globex", {}), OPS)
    before = (accounts.version(), accounts.audit())
    with pytest.raises(AccountError) as refused:
        accounts.update_customer("globex", fields, OPS)
    assert refused.value.kind == "invalid" and refused.value.param == param
    assert (accounts.version(), accounts.audit()) == before


def test_names_are_unique_and_unknown_ones_are_named(accounts: Accounts) -> None:
    accounts.create_customer(customer_of("globex", {}), OPS)
    with pytest.raises(AccountError) as twice:
        accounts.create_customer(customer_of("globex", {}), OPS)
    assert twice.value.kind == "conflict"
    with pytest.raises(AccountError) as unknown:
        accounts.update_customer("nobody", {"description": "x"}, OPS)
    assert unknown.value.kind == "not_found" and "'nobody'" in unknown.value.message
    with pytest.raises(AccountError) as renamed:
        accounts.update_customer("globex", {"name": "other"}, OPS)
    assert renamed.value.param == "name"


def test_the_catalog_is_imported_once_wins_for_what_it_names_and_releases_what_it_drops(accounts: Accounts) -> None:
    catalog = parse_catalog(catalog_dict(), source="revshare.toml")
    assert accounts.import_catalog(catalog, CATALOG) == 3
    assert accounts.import_catalog(catalog, CATALOG) == 0  # a second start changes nothing
    assert {a.name: a.source for a in accounts.load().accounts.values()} == {
        "demo": "catalog", "acme": "catalog", "locked": "catalog"}
    with pytest.raises(AccountError) as managed:
        accounts.update_customer("acme", {"requests_per_minute": 5}, OPS)
    assert managed.value.kind == "managed_by_catalog"

    raw = catalog_dict()
    raw["customers"] = [{"name": "demo", "models": ["gemma-*"]}, {"name": "acme", "models": ["gemma-*"]}]
    assert accounts.import_catalog(parse_catalog(raw, source="revshare.toml"), CATALOG) == 2
    directory = accounts.load()
    assert directory.customer("demo").models == ("gemma-*",)  # type: ignore[union-attr]
    assert directory.account("locked").source == "api"  # type: ignore[union-attr]
    accounts.update_customer("locked", {"models": ["*"]}, OPS)  # released: editable here now
    assert [e.action for e in accounts.audit()][-3:] == ["customer.update", "customer.release", "customer.update"]


def test_keys_are_created_relabelled_limited_and_revoked_and_no_event_holds_a_secret(accounts: Accounts,
                                                                                     ledger: Ledger) -> None:
    accounts.create_customer(customer_of("globex", {}), OPS)
    key, secret = accounts.create_key("globex", "ci", limits_of({"requests_per_minute": 10}), OPS)
    assert ledger.find_key(secret) == key
    assert accounts.load().key_limit(key.key_id).requests_per_minute == 10  # type: ignore[union-attr]
    assert accounts.update_key(key.key_id, OPS, label="nightly").label == "nightly"
    accounts.update_key(key.key_id, OPS, clear_limits=True)
    assert accounts.load().key_limit(key.key_id) is None
    assert accounts.revoke_key(key.key_id, OPS).revoked_at is not None
    assert ledger.find_key(secret) is None
    with pytest.raises(AccountError) as again:
        accounts.revoke_key(key.key_id, OPS)
    assert again.value.kind == "conflict"
    with pytest.raises(AccountError) as nobody:
        accounts.create_key("nobody", "", None, OPS)
    assert nobody.value.kind == "not_found"
    events = accounts.audit(customer="globex")
    assert [e.action for e in events] == ["customer.create", "key.create", "key.limits", "key.update", "key.limits",
                                         "key.revoke"]
    trail = json.dumps([e.detail for e in events])
    assert secret not in trail and secret[4:] not in trail


def test_the_audit_trail_refuses_updates_and_deletes(accounts: Accounts, ledger: Ledger) -> None:
    accounts.create_customer(customer_of("globex", {}), OPS)
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(statement))
    assert [e.actor for e in accounts.audit()] == ["ops@example.com"]


def test_an_actor_must_be_printable_and_bounded() -> None:
    for bad in ("", "a\nb", "x" * 201):
        with pytest.raises(AccountError):
            Actor(bad, "api")
