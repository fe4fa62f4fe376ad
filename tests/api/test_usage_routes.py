"""`GET /admin/usage` and `GET /v1/me/usage` on a running gateway: what the `openai` client was
billed for, summed per day and model from the rollups the gateway folds beside the request path,
each customer seeing only its own; bad ranges refused naming the parameter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog_dict, stub_upstream


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    from revshare.config import parse_catalog

    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["server"]["rollup_interval_s"] = 0.2
        with running_gateway(parse_catalog(raw), sqlite_url) as running:
            yield running


def _usage(gw: Running, path: str, token: str, **params: Any) -> httpx.Response:
    return httpx.get(gw.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _settled(gw: Running, path: str, token: str, **params: Any) -> dict[str, Any]:
    """The answer once the rollups hold every record appended so far."""
    appended = gw.ledger.count()
    deadline = time.monotonic() + 20
    while True:
        answer = _usage(gw, path, token, **params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["as_of_seq"] >= appended or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_usage_is_what_was_billed_and_each_customer_sees_its_own(gw: Running) -> None:
    for customer, n in (("demo", 3), ("acme", 2)):
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)
        for _ in range(n):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)

    everyone = _settled(gw, "/admin/usage", gw.admin_token, group_by="customer")
    assert everyone["timezone"] == "UTC" and everyone["as_of_seq"] == 5
    rows = {row["group"]: row for row in everyone["data"]}
    for customer in ("demo", "acme"):
        records = gw.ledger.records(customer=customer)
        assert rows[customer]["requests"] == len(records)
        assert rows[customer]["completion_tokens"] == sum(r.completion_tokens for r in records)
        assert Decimal(rows[customer]["amount"]) == sum((r.amount for r in records), Decimal(0))

    mine = _settled(gw, "/v1/me/usage", gw.keys["acme"], group_by="model")
    assert [(row["group"], row["requests"]) for row in mine["data"]] == [(MODEL, 2)]
    by_key = _settled(gw, "/v1/me/usage", gw.keys["demo"], group_by="key", granularity="hour")
    assert sum(row["requests"] for row in by_key["data"]) == 3
    assert all(row["period_start"].endswith(":00:00Z") for row in by_key["data"])


@pytest.mark.parametrize(("path", "params", "param"), [
    ("/admin/usage", {"start": "yesterday"}, "start"),
    ("/admin/usage", {"start": "2026-11-02", "end": "2026-11-01"}, "end"),
    ("/admin/usage", {"start": "2026-01-01", "end": "2026-03-01", "granularity": "hour"}, "end"),
    ("/admin/usage", {"granularity": "week"}, "granularity"),
    ("/admin/usage", {"group_by": "colour"}, "group_by"),
    ("/v1/me/usage", {"group_by": "customer"}, "group_by"),
])
def test_bad_ranges_and_groupings_are_refused_naming_the_parameter(gw: Running, path: str, params: dict[str, str],
                                                                    param: str) -> None:
    token = gw.admin_token if path.startswith("/admin") else gw.keys["demo"]
    answer = _usage(gw, path, token, **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


def test_the_routes_take_only_their_own_credentials(gw: Running) -> None:
    assert _usage(gw, "/admin/usage", gw.keys["demo"]).status_code == 401
    assert _usage(gw, "/v1/me/usage", gw.admin_token).status_code == 401


def test_billing_is_what_the_records_come_to_per_line_and_each_customer_sees_its_own(gw: Running) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["acme"], max_retries=0)
    for _ in range(2):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    everyone = _settled(gw, "/admin/billing", gw.admin_token)
    (acme,) = [row for row in everyone["data"] if row["customer"] == "acme"]
    records = gw.ledger.records(customer="acme")
    prompt, completion = sum(r.prompt_tokens for r in records), sum(r.completion_tokens for r in records)
    # The stub catalog's price, 0.10 in and 0.40 out per million tokens: one rounding per line.
    expected = (Decimal(prompt) * Decimal("0.10") / 10**6).quantize(Decimal("0.01")) + \
        (Decimal(completion) * Decimal("0.40") / 10**6).quantize(Decimal("0.01"))
    assert acme["requests"] == 2 and Decimal(acme["total_due"]) == expected
    mine = _settled(gw, "/v1/me/billing", gw.keys["demo"])
    assert {row["customer"] for row in mine["data"]} <= {"demo"}
    # Months that parse but have no calendar (year 0; 9999-12, whose next month does not exist).
    for period, token in [("2026-13", gw.admin_token), ("0000-01", gw.keys["demo"]), ("9999-12", gw.admin_token)]:
        bad = _usage(gw, "/admin/billing" if token == gw.admin_token else "/v1/me/billing", token, period=period)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "period", (period, bad.text)
