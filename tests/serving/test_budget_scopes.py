"""Budget scopes: prepaid credit that never resets, and a key's own budget within its customer's."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import httpx

from revshare.api.app import create_app
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from revshare.metering.reservation import to_units
from tests.support.servers import ServerThread
from tests.support.stub_gateway import BODY, budget_row, stub_catalog_dict, stub_upstream


def _post(url: str, key: str) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_prepaid_credit_runs_out_and_stays_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with stub_upstream() as base:
        raw = stub_catalog_dict(base, budget="0.00002", budget_period="total")
        ledger = Ledger(url)
        ledger.migrate()
        _, key = ledger.create_key("demo", "test")
        app = create_app(parse_catalog(raw), admin_token="rsa_" + uuid.uuid4().hex, ledger=Ledger(url))
        with ServerThread(app) as gw:
            statuses = [_post(gw.url, key).status_code for _ in range(12)]
            refused = _post(gw.url, key)
    ok = statuses.count(200)
    assert ok >= 1 and statuses == [200] * ok + [402] * (12 - ok)  # once out, always out: it never resets
    error = refused.json()["error"]
    assert refused.status_code == 402 and error["code"] == "budget_exceeded" and error["type"]
    spent, reserved = budget_row(url)
    records = ledger.records(customer="demo")
    assert len(records) == ok and reserved == 0
    assert spent == sum(to_units(r.amount) for r in records) <= to_units(Decimal("0.00002"))
    ledger.close()


def test_a_keys_budget_binds_that_key_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    tight, tight_secret = ledger.create_key("demo", "tight")
    _, free_secret = ledger.create_key("demo", "free")
    with stub_upstream() as base:
        raw = stub_catalog_dict(base)
        raw["key_limits"] = [{"key_id": tight.key_id, "customer": "demo", "budget": "0.00001", "budget_period": "day"}]
        app = create_app(parse_catalog(raw), admin_token="rsa_" + uuid.uuid4().hex, ledger=Ledger(url))
        with ServerThread(app) as gw:
            tight_statuses = [_post(gw.url, tight_secret).status_code for _ in range(8)]
            free_statuses = [_post(gw.url, free_secret).status_code for _ in range(8)]
    assert 402 in tight_statuses and tight_statuses.index(402) >= 1
    assert free_statuses == [200] * 8  # the customer has no budget: its other key is untouched
    spent, reserved = budget_row(url, f"key:{tight.key_id}")
    assert reserved == 0 and 0 < spent <= to_units(Decimal("0.00001"))
    ledger.close()
