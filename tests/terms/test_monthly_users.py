"""Monthly active users per model and licence: exact counts of distinct customers and keys over the
month's records (equal to a count recomputed from the records), thresholds flagged near and over;
on SQLite and PostgreSQL, and through `GET /admin/terms/users` and `revshare terms users`."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from revshare.accounts.users import month_bounds, monthly_users
from revshare.config import Catalog, parse_catalog
from revshare.ledger.store import Ledger
from revshare.records.record import Outcome, UsageRecord
from tests.support.licence_catalogs import NOVEMBER, users_catalog
from tests.support.records import record
from tests.support.servers import running_gateway
from tests.support.stub_gateway import to_toml

MODELS = ("gemma-3-270m", "gemma-ft", "gemma-plain", "retired")


def usage(n: int, customer: str, key: str, model: str, started: datetime,
          outcome: Outcome = Outcome.OK) -> UsageRecord:
    return dataclasses.replace(record(n), customer=customer, key_id=key, model=model, started_at=started,
                               ended_at=started, outcome=outcome, idempotency_key=None)


def random_records(seed: int, count: int = 120) -> list[UsageRecord]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        customer = f"c{rng.randrange(7)}"
        started = NOVEMBER + timedelta(seconds=rng.randrange(-3 * 86_400, 33 * 86_400))  # around the month
        out.append(usage(n, customer, f"{customer}-k{rng.randrange(3)}", rng.choice(MODELS), started,
                         rng.choice(list(Outcome))))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_equal_a_count_recomputed_from_the_records(ledger: Ledger, seed: int) -> None:
    catalog = parse_catalog(users_catalog())
    records = random_records(seed)
    ledger.append_now(records)
    result = monthly_users(ledger.engine, catalog, "2026-11")
    start, end = month_bounds("2026-11")
    month = [r for r in records if start <= r.started_at < end]
    for row in result.models:
        mine = [r for r in month if r.model == row.model]
        assert (row.customers, row.keys, row.records) == (len({r.customer for r in mine}),
                                                          len({r.key_id for r in mine}), len(mine)), row.model
    (gemma,) = result.licences
    bound = [r for r in month if r.model in ("gemma-3-270m", "gemma-ft")]
    assert gemma.models == ("gemma-3-270m", "gemma-ft")
    assert (gemma.customers, gemma.keys) == (len({r.customer for r in bound}), len({r.key_id for r in bound}))
    assert [m.model for m in result.models] == list(MODELS)  # the catalog's, then any others with records


def test_thresholds_are_flagged_near_and_over(ledger: Ledger) -> None:
    catalog = parse_catalog(users_catalog([4, 5, 100]))
    day = NOVEMBER + timedelta(days=3)
    ledger.append_now([usage(i, f"c{i}", f"k{i}", "gemma-ft" if i % 2 else "gemma-3-270m", day) for i in range(4)]
                      + [usage(9, "c9", "k9", "gemma-plain", day),
                         usage(10, "c10", "k10", "gemma-3-270m", NOVEMBER - timedelta(microseconds=1))])
    result = monthly_users(ledger.engine, catalog, "2026-11")
    (gemma,) = result.licences
    assert gemma.customers == 4
    assert [(t.users, t.state) for t in gemma.thresholds] == [(4, "over"), (5, "near"), (100, "below")]
    assert [(t.users, t.state) for t in result.flagged] == [(4, "over"), (5, "near")]
    by_model = {m.model: m for m in result.models}
    assert by_model["gemma-ft"].licences == ("gemma",) and by_model["gemma-ft"].customers == 2
    assert [t.state for t in by_model["gemma-ft"].thresholds] == ["below", "below", "below"]
    assert by_model["gemma-plain"].thresholds == () and by_model["gemma-plain"].customers == 1


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "0999-01", "9999-12", "2026-11-01"])
def test_a_month_is_written_yyyy_mm(month: str) -> None:
    with pytest.raises(ValueError, match=r"YYYY-MM|9999-11"):
        month_bounds(month)


def test_month_bounds_are_utc_calendar_months() -> None:
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_the_cli_and_the_admin_route_show_the_same_counts(tmp_path: Path, sqlite_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from revshare.cli import app

    raw = users_catalog([2])
    raw["server"]["database_url"] = sqlite_url
    config = tmp_path / "revshare.toml"
    config.write_text(to_toml(raw))
    ledger = Ledger(sqlite_url)
    ledger.migrate()
    day = NOVEMBER + timedelta(days=1)
    ledger.append_now([usage(1, "demo", "k1", "gemma-3-270m", day), usage(2, "acme", "k2", "gemma-ft", day)])
    monkeypatch.delenv("REVSHARE_DATABASE_URL", raising=False)
    runner = CliRunner()
    lines = runner.invoke(app, ["terms", "users", "--month", "2026-11", "--json", "--config", str(config)])
    assert lines.exit_code == 0, lines.output
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    licence = next(r for r in rows if r["kind"] == "terms")
    assert (licence["customers"], licence["keys"], licence["thresholds"]) == (
        2, 2, [{"terms_id": "gemma", "users": 2, "state": "over"}])
    table = runner.invoke(app, ["terms", "users", "--month", "2026-11", "--config", str(config)])
    assert table.exit_code == 0 and "warning: gemma: over its threshold of 2 monthly active users" in table.output
    bad = runner.invoke(app, ["terms", "users", "--month", "November", "--config", str(config)])
    assert bad.exit_code == 1 and "--month: a month is written YYYY-MM" in bad.output

    catalog: Catalog = parse_catalog(raw)
    with running_gateway(catalog, sqlite_url, engines={}) as gw:  # no engine: only the admin API is used
        headers = {"Authorization": f"Bearer {gw.admin_token}"}
        answer = httpx.get(gw.url + "/admin/terms/users", params={"month": "2026-11"}, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["terms"][0]["customers"] == 2 and body["flagged"] == [{"terms_id": "gemma", "users": 2,
                                                                          "state": "over"}]
        models = {m["model"]: m for m in body["models"]}
        assert (models["gemma-ft"]["customers"], models["gemma-ft"]["terms"]) == (1, ["gemma"])
        bad_month = httpx.get(gw.url + "/admin/terms/users", params={"month": "2026-13"}, headers=headers)
        assert bad_month.status_code == 400 and bad_month.json()["error"]["param"] == "month"
    ledger.close()
