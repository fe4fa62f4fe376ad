"""`GET /admin/usage/records` and `GET /v1/me/usage/records`: the records a page at a time by a seq
cursor, filtered by customer, key, model, outcome and time; a customer lists its own only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest

from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog, stub_upstream


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as running:
        for customer, n in (("demo", 3), ("acme", 4)):
            client = openai.OpenAI(base_url=running.url + "/v1", api_key=running.keys[customer], max_retries=0)
            for _ in range(n):
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
        yield running


def _get(gw: Running, path: str, token: str, **params: Any) -> httpx.Response:
    return httpx.get(gw.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _all(gw: Running, path: str, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every page, following the cursor."""
    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        body = _get(gw, path, token, after_seq=after, limit=2, **params).json()
        assert len(body["data"]) <= 2 and body["object"] == "list"
        seen += body["data"]
        if not body["has_more"]:
            return seen
        assert body["next_after_seq"] == body["data"][-1]["seq"] > after
        after = body["next_after_seq"]


def test_the_operator_pages_through_every_record_and_filters(gw: Running) -> None:
    everything = _all(gw, "/admin/usage/records", gw.admin_token)
    assert [r["seq"] for r in everything] == list(range(1, 8))
    acme = _all(gw, "/admin/usage/records", gw.admin_token, customer="acme")
    assert [r["customer"] for r in acme] == ["acme"] * 4
    key = acme[0]["key_id"]
    assert {r["key_id"] for r in _all(gw, "/admin/usage/records", gw.admin_token, key=key)} == {key}
    assert _all(gw, "/admin/usage/records", gw.admin_token, model="no-such-model") == []
    assert len(_all(gw, "/admin/usage/records", gw.admin_token, outcome="ok")) == 7
    later = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert _all(gw, "/admin/usage/records", gw.admin_token, start=later) == []
    assert len(_all(gw, "/admin/usage/records", gw.admin_token, end=later)) == 7


def test_a_customer_lists_only_its_own_records(gw: Running) -> None:
    mine = _all(gw, "/v1/me/usage/records", gw.keys["demo"])
    assert [r["customer"] for r in mine] == ["demo"] * 3
    acme_key = gw.ledger.keys("acme")[0].key_id
    assert _all(gw, "/v1/me/usage/records", gw.keys["demo"], key=acme_key) == []  # another's key: nothing
    assert _get(gw, "/v1/me/usage/records", gw.keys["demo"], customer="acme").json()["data"][0]["customer"] == "demo"
    assert _get(gw, "/admin/usage/records", gw.keys["demo"]).status_code == 401


@pytest.mark.parametrize(("params", "param"), [
    ({"after_seq": "-1"}, "after_seq"), ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"),
    ({"outcome": "great"}, "outcome"), ({"start": "yesterday"}, "start"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "end"),
])
def test_bad_parameters_get_a_400_naming_them(gw: Running, params: dict[str, str], param: str) -> None:
    for path, token in (("/admin/usage/records", gw.admin_token), ("/v1/me/usage/records", gw.keys["acme"])):
        answer = _get(gw, path, token, **params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == param
