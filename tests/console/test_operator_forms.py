"""The operator's forms over plain HTTP: each change is made, audited as the console's, and in force
at once; bad input in every form gets a message next to its field, a 400, and changes nothing;
catalog customers stay read-only; user text is printed escaped."""

from __future__ import annotations

import re

import openai
import pytest

from revshare.accounts.store import Accounts
from tests.support.browser import ConsoleClient, field_errors
from tests.support.servers import Running
from tests.support.stub_gateway import MODEL

LIMITS = {"requests_per_minute": "", "tokens_per_minute": "", "max_concurrent": "", "budget": "",
          "budget_period": "month"}
GLOBEX = {"name": "globex", "models": "gemma-*", "description": "", **LIMITS, "budget": "50.00"}


def _models(gw: Running, key: str) -> list[str]:
    return [m.id for m in openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0).models.list()]


def _version(gw: Running) -> int:
    return Accounts(gw.ledger).version()


@pytest.mark.parametrize(("fields", "wrong"), [
    ({"name": "has space"}, ["name"]),
    ({"name": ""}, ["name"]),
    ({"models": " , "}, ["models"]),
    ({"requests_per_minute": "-1", "tokens_per_minute": "1.5", "max_concurrent": "0"},
     ["requests_per_minute", "tokens_per_minute", "max_concurrent"]),
    ({"budget": "ten"}, ["budget"]),
    ({"budget": "1.1234567890123"}, ["budget"]),
    ({"budget_period": "week"}, ["budget_period"]),
    ({"description": "x" * 1001}, ["description"]),
    ({"name": "demo"}, ["name"]),  # taken (by the catalog)
])
def test_a_bad_new_customer_is_refused_next_to_its_field(gw: Running, operator: ConsoleClient,
                                                         fields: dict[str, str], wrong: list[str]) -> None:
    before = _version(gw)
    page = operator.post("/console/customers", {**GLOBEX, **fields}, csrf_from="/console/customers")
    assert page.status_code in (400, 409), page.text[:300]
    assert sorted(field_errors(page.text)) == sorted(wrong)
    assert "Nothing was created" in page.text
    assert _version(gw) == before


def test_a_customer_made_in_the_console_is_edited_suspended_and_resumed_at_once(gw: Running,
                                                                                operator: ConsoleClient) -> None:
    made = operator.post("/console/customers", GLOBEX, csrf_from="/console/customers")
    assert made.status_code == 303 and made.headers["location"] == "/console/customers/globex?done=created"
    key = operator.post("/console/keys", {"customer": "globex", "label": "prod", **LIMITS},
                        csrf_from="/console/keys")
    assert key.status_code == 201
    secret = re.search(r'id="secret" type="text" value="(rsk_[^"]+)"', key.text)
    assert secret and _models(gw, secret.group(1)) == [MODEL]

    page = operator.get("/console/customers/globex?done=created")
    assert "Customer created." in page.text and "50.00 a month" in page.text
    edit = {**GLOBEX, "models": "gemma-* llama-*", "requests_per_minute": "600", "budget": ""}
    saved = operator.post("/console/customers/globex", edit, csrf_from="/console/customers/globex")
    assert saved.headers["location"] == "/console/customers/globex?done=saved"
    account = Accounts(gw.ledger).account("globex")
    assert account and account.customer.models == ("gemma-*", "llama-*")
    assert account.customer.requests_per_minute == 600 and account.customer.budget is None
    again = operator.post("/console/customers/globex", edit, csrf_from="/console/customers/globex")
    assert again.headers["location"].endswith("?done=unchanged")

    bad = operator.post("/console/customers/globex", {**edit, "models": "", "budget": "-3"},
                        csrf_from="/console/customers/globex")
    assert bad.status_code == 400 and sorted(field_errors(bad.text)) == ["budget", "models"]
    assert "Nothing was saved" in bad.text and Accounts(gw.ledger).account("globex") == account

    suspended = operator.post("/console/customers/globex/suspend", {}, csrf_from="/console/customers/globex")
    assert suspended.headers["location"].endswith("?done=suspended")
    with pytest.raises(openai.PermissionDeniedError):
        _models(gw, secret.group(1))
    operator.post("/console/customers/globex/resume", {}, csrf_from="/console/customers/globex")
    assert _models(gw, secret.group(1)) == [MODEL]

    actions = [(e.action, e.actor, e.via) for e in Accounts(gw.ledger).audit(customer="globex")]
    assert actions == [("customer.create", "admin (Ops)", "console"), ("key.create", "admin (Ops)", "console"),
                       ("customer.update", "admin (Ops)", "console"), ("customer.suspend", "admin (Ops)", "console"),
                       ("customer.resume", "admin (Ops)", "console")]


def test_a_customer_whose_name_holds_a_slash_has_its_pages(gw: Running, operator: ConsoleClient) -> None:
    made = operator.post("/console/customers", {**GLOBEX, "name": "globex/eu"}, csrf_from="/console/customers")
    assert made.headers["location"] == "/console/customers/globex%2Feu?done=created"
    page = operator.get(made.headers["location"])
    assert page.status_code == 200 and 'action="/console/customers/globex%2Feu/suspend"' in page.text
    suspended = operator.post("/console/customers/globex%2Feu/suspend", {}, csrf_from="/console/customers/globex%2Feu")
    assert suspended.headers["location"].endswith("?done=suspended")
    account = Accounts(gw.ledger).account("globex/eu")
    assert account is not None and account.suspended


def test_catalog_customers_are_shown_read_only(gw: Running, operator: ConsoleClient) -> None:
    page = operator.get("/console/customers/demo")
    assert page.status_code == 200 and "revshare.toml" in page.text and 'action="/console/customers/demo"' not in page.text
    before = _version(gw)
    for path in ("/console/customers/demo", "/console/customers/demo/suspend"):
        refused = operator.post(path, {**GLOBEX, "name": "demo"}, csrf_from="/console/customers/demo")
        assert refused.status_code == 409 and "catalog" in refused.text
    assert _version(gw) == before
    assert operator.get("/console/customers/nobody").status_code == 404


@pytest.mark.parametrize(("fields", "wrong"), [
    ({"customer": ""}, ["customer"]),
    ({"customer": "nobody"}, ["customer"]),
    ({"label": "x" * 129}, ["label"]),
    ({"label": "tab\there"}, ["label"]),
    ({"requests_per_minute": "many", "budget": "1e3"}, ["requests_per_minute", "budget"]),
])
def test_a_bad_new_key_is_refused_next_to_its_field(gw: Running, operator: ConsoleClient,
                                                    fields: dict[str, str], wrong: list[str]) -> None:
    before, keys = _version(gw), len(gw.ledger.keys())
    page = operator.post("/console/keys", {"customer": "acme", "label": "", **LIMITS, **fields},
                         csrf_from="/console/keys")
    assert page.status_code == 400 and sorted(field_errors(page.text)) == sorted(wrong)
    assert _version(gw) == before and len(gw.ledger.keys()) == keys


def test_keys_are_listed_by_customer_and_state_relabelled_and_revoked(gw: Running, operator: ConsoleClient) -> None:
    acme = gw.ledger.keys("acme")[0].key_id
    demo = gw.ledger.keys("demo")[0].key_id
    page = operator.get("/console/keys?customer=acme")
    assert acme in page.text and demo not in page.text
    assert operator.get("/console/keys?state=bogus").status_code == 400

    long_label = operator.post(f"/console/keys/{acme}/label", {"label": "y" * 200}, csrf_from=f"/console/keys/{acme}")
    assert long_label.status_code == 400 and field_errors(long_label.text) == ["label"]
    relabelled = operator.post(f"/console/keys/{acme}/label", {"label": "<b>prod</b>"},
                               csrf_from=f"/console/keys/{acme}")
    assert relabelled.headers["location"].endswith("?done=relabelled")
    shown = operator.get(f"/console/keys/{acme}")
    assert "&lt;b&gt;prod&lt;/b&gt;" in shown.text and "<b>prod</b>" not in shown.text

    confirm = operator.get(f"/console/keys/{acme}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert gw.ledger.keys("acme")[0].revoked_at is None  # a GET revokes nothing
    revoked = operator.post(f"/console/keys/{acme}/revoke", {}, csrf_from=f"/console/keys/{acme}/revoke")
    assert revoked.headers["location"].endswith("?done=revoked")
    with pytest.raises(openai.AuthenticationError):
        _models(gw, gw.keys["acme"])
    again = operator.post(f"/console/keys/{acme}/revoke", {}, csrf_from=f"/console/keys/{acme}")
    assert again.status_code == 409
    assert demo not in operator.get("/console/keys?state=revoked").text
    assert acme in operator.get("/console/keys?state=revoked").text
    assert operator.get("/console/keys/key_nonexistent").status_code == 404


def test_user_text_is_escaped_everywhere_it_is_printed(gw: Running, operator: ConsoleClient) -> None:
    evil = "<script>alert(1)</script>"
    made = operator.post("/console/customers", {**GLOBEX, "description": evil}, csrf_from="/console/customers")
    assert made.status_code == 303
    for path in ("/console/customers", "/console/customers/globex", "/console/audit"):
        page = operator.get(path).text
        assert evil not in page and "&lt;script&gt;" in page, path


def test_the_audit_trail_pages_with_its_filters_in_the_url(gw: Running, operator: ConsoleClient) -> None:
    for n in range(3):
        operator.post("/console/keys", {"customer": "acme", "label": f"k{n}", **LIMITS}, csrf_from="/console/keys")
    rows = 'data-label="#"'  # one a row; acme has 4 events: customer.create (the catalog's), 3 key.create
    first = operator.get("/console/audit?customer=acme&limit=2")
    assert first.status_code == 200 and first.text.count(rows) == 2 and "customer.create" in first.text
    following = re.search(r'href="(/console/audit\?[^"]+)">Next page', first.text)
    assert following
    link = following.group(1).replace("&amp;", "&")
    assert "customer=acme" in link and "limit=2" in link and "after_seq=" in link
    second = operator.get(link)
    assert second.text.count(rows) == 2 and "customer.create" not in second.text
    assert "Next page" not in second.text and "First page" in second.text
    assert operator.get("/console/audit?after_seq=-1").status_code == 400
    assert operator.get("/console/audit?customer=nobody").text.count(rows) == 0
