"""Usage rollups hold exactly the ledger's records: folded in any batch sizes, interleaved with
appends, by racing folders, or after a failed fold, their totals equal a sum over the records
themselves, to the last decimal place; SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Table, select

from revshare.ledger.store import Ledger
from revshare.monthend.schema import settlement_periods
from revshare.records.record import Outcome, UsageRecord
from revshare.reporting import fold as fold_module
from revshare.reporting.fold import fold_new_records, folded_seq
from revshare.reporting.query import usage
from revshare.reporting.rollup import Group, Totals, by_day, fold, from_pico, project, to_pico
from revshare.reporting.schema import SUMMARIES, group_columns, usage_daily, usage_rollups
from tests.support.records import record

START = datetime(2026, 11, 1, tzinfo=UTC)


def varied(n: int, rng: random.Random) -> UsageRecord:
    """Records over three days, three customers, two keys, two models and every outcome."""
    base = record(n, customer=rng.choice(["acme", "globex", "initech"]),
                  amount=f"0.{rng.randrange(10**12):012d}")
    started = START + timedelta(minutes=rng.randrange(3 * 24 * 60), seconds=rng.randrange(60))
    return dataclasses.replace(base, started_at=started, ended_at=started, key_id=rng.choice(["key_a", "key_b"]),
                               model=rng.choice(["gemma-3-270m", "llama-3"]), outcome=rng.choice(list(Outcome)),
                               prompt_tokens=rng.randrange(1000), completion_tokens=rng.randrange(1000),
                               cached_tokens=rng.randrange(10))


def expected(records: Sequence[UsageRecord]) -> dict[Group, Totals]:
    """The reference: the pure fold over the records as the ledger returns them."""
    return fold(dataclasses.replace(r, outcome=r.outcome.value, amount=str(r.amount))  # type: ignore[arg-type]
                for r in records)


def stored(ledger: Ledger, table: Table = usage_rollups) -> dict[Group, Totals]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(table)).all()
    return {Group(r[0].replace(tzinfo=UTC), r.customer, r.key_id, r.model, r.price_version, r.outcome, r.currency,
                  r.billing_period):
            Totals(r.requests, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
                   from_pico(r.amount_units, r.amount_pico))
            for r in rows}


def stored_summary(ledger: Ledger, table: Table) -> dict[tuple[object, ...], Totals]:
    columns = group_columns(table)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(table)).all()
    return {(r[0].replace(tzinfo=UTC), *(getattr(r, c) for c in columns)):
            Totals(r.requests, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
                   from_pico(r.amount_units, r.amount_pico))
            for r in rows}


def check(ledger: Ledger) -> None:
    """Both grains hold exactly the records: the hours as the reference folds them, the days
    as those hours summed per day; and every summary those groups summed over what it leaves out."""
    hourly = expected(ledger.records())
    assert stored(ledger) == hourly
    assert stored(ledger, usage_daily) == by_day(hourly)
    for grain, groups in (("hour", hourly), ("day", by_day(hourly))):
        for table in SUMMARIES[grain]:
            assert stored_summary(ledger, table) == project(groups, group_columns(table)), table.name


def test_folds_in_any_batches_interleaved_with_appends_equal_the_records(ledger: Ledger) -> None:
    rng = random.Random(7)
    for chunk in range(6):
        ledger.append_now([varied(chunk * 100 + i, rng) for i in range(rng.randrange(1, 80))])
        while fold_new_records(ledger, batch=rng.randrange(1, 40)):
            pass
    assert folded_seq(ledger) == len(ledger.records())
    check(ledger)
    assert fold_new_records(ledger) == 0
    check(ledger)  # nothing twice


def test_racing_folders_count_each_record_once(ledger: Ledger) -> None:
    rng = random.Random(11)
    ledger.append_now([varied(i, rng) for i in range(300)])
    errors: list[BaseException] = []

    def folder() -> None:
        try:
            while fold_new_records(ledger, batch=9):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=folder) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert folded_seq(ledger) == 300
    check(ledger)


def test_a_month_closed_while_the_records_were_grouped_bills_them_as_closed(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records are grouped before the lock is taken: a close committed in between (here November's,
    at seq 20, so its later records are December's late usage) sends the fold back to group them
    again under the lock."""
    rng = random.Random(5)
    records = [varied(i, rng) for i in range(40)]
    ledger.append_now(records)
    group = fold_module._group
    closed: list[int] = []

    def close_after_grouping(conn: object, done: int, batch: int) -> object:
        grouped = group(conn, done, batch)  # type: ignore[arg-type]
        if not closed:
            closed.append(grouped.count)
            at = datetime(2026, 12, 1, tzinfo=UTC)
            with ledger.engine.begin() as other:
                other.execute(settlement_periods.insert().values(
                    period="2026-11", closed_at=at, cutoff=at, late_after=None, last_seq=20, early=False,
                    closed_by="test", note=""))
        return grouped

    monkeypatch.setattr(fold_module, "_group", close_after_grouping)
    assert fold_new_records(ledger) == 40
    assert closed == [40]
    reference = fold((dataclasses.replace(r, outcome=r.outcome.value, amount=str(r.amount))  # type: ignore[misc]
                      for r in ledger.records()), {"2026-11": 20})
    assert stored(ledger) == reference
    assert {g.billing_period for g in reference} == {"2026-11", "2026-12"}


def test_a_fold_that_fails_part_way_changes_nothing(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    ledger.append_now([varied(i, rng) for i in range(50)])
    fold_new_records(ledger, batch=20)
    before = stored(ledger), stored(ledger, usage_daily)
    real_merge = fold_module._merge

    def merge_then_fail(*args: object) -> None:
        real_merge(*args)  # type: ignore[arg-type]
        raise RuntimeError("the database went away")

    monkeypatch.setattr(fold_module, "_merge", merge_then_fail)
    with pytest.raises(RuntimeError):
        fold_new_records(ledger)
    assert folded_seq(ledger) == 20 and (stored(ledger), stored(ledger, usage_daily)) == before
    monkeypatch.setattr(fold_module, "_merge", real_merge)
    while fold_new_records(ledger, batch=20):
        pass
    check(ledger)


def test_usage_sums_periods_and_groups_exactly_in_utc(ledger: Ledger) -> None:
    rng = random.Random(5)
    ledger.append_now([varied(i, rng) for i in range(400)])
    fold_new_records(ledger)
    records = ledger.records()
    end = START + timedelta(days=3)

    by_day = usage(ledger, start=START, end=end, granularity="day", group_by="customer")
    for row in by_day.rows:
        mine = [r for r in records if r.customer == row.group and r.started_at.date() == row.period_start.date()]
        assert row.totals.requests == len(mine)
        assert row.totals.amount == sum((r.amount for r in mine), Decimal(0))
        assert row.period_start.tzinfo is not None and row.period_start.hour == 0
    assert sum(row.totals.requests for row in by_day.rows) == len(records) and by_day.folded_seq == len(records)

    hours = usage(ledger, start=START + timedelta(hours=5), end=START + timedelta(hours=7), granularity="hour",
                  customer="acme", group_by="model")
    inside = [r for r in records if r.customer == "acme"
              and START + timedelta(hours=5) <= r.started_at < START + timedelta(hours=7)]
    assert sum(row.totals.requests for row in hours.rows) == len(inside)  # end excluded, start included
    assert {row.period_start.hour for row in hours.rows} <= {5, 6}
    assert sum((row.totals.amount for row in hours.rows), Decimal(0)) == sum((r.amount for r in inside), Decimal(0))

    charged = usage(ledger, start=START, end=end, charged_only=True)
    assert sum(row.totals.requests for row in charged.rows) == sum(
        1 for r in records if r.outcome in (Outcome.OK, Outcome.CLIENT_DISCONNECT))


def test_every_summary_usage_reads_answers_as_the_full_rollups_do(ledger: Ledger,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """usage() reads the smallest table that has the columns asked for; with only the full
    rollups to read from it must answer the same, row for row."""
    from revshare.reporting import query as query_module

    rng = random.Random(9)
    ledger.append_now([varied(i, rng) for i in range(300)])
    fold_new_records(ledger)
    end = START + timedelta(days=3)
    asks = [dict(granularity=g, group_by=b, customer=c, charged_only=o)
            for g in ("hour", "day") for b in (None, "model", "customer", "key", "outcome")
            for c in (None, "acme") for o in (False, True)]
    answers = [usage(ledger, start=START, end=end, **ask).rows for ask in asks]  # type: ignore[arg-type]
    monkeypatch.setattr(query_module, "SUMMARIES", {"hour": (usage_rollups,), "day": (usage_daily,)})
    for ask, answer in zip(asks, answers, strict=True):
        assert usage(ledger, start=START, end=end, **ask).rows == answer, ask  # type: ignore[arg-type]


def test_a_limit_keeps_the_first_rows_and_says_there_were_more(ledger: Ledger) -> None:
    rng = random.Random(4)
    ledger.append_now([varied(i, rng) for i in range(200)])
    fold_new_records(ledger)
    end = START + timedelta(days=3)
    every = usage(ledger, start=START, end=end, granularity="hour", group_by="customer")
    first = usage(ledger, start=START, end=end, granularity="hour", group_by="customer", limit=10)
    assert first.truncated and list(first.rows) == list(every.rows[:10])
    assert not usage(ledger, start=START, end=end, granularity="hour", group_by="customer",
                     limit=len(every.rows)).truncated


def test_the_summaries_migration_fills_them_from_rollups_already_folded(ledger: Ledger) -> None:
    """A ledger folded before revision 0013 gets its summaries from its rollups, exactly."""
    from alembic import command
    from alembic.config import Config

    from revshare.ledger import store

    rng = random.Random(12)
    ledger.append_now([varied(i, rng) for i in range(250)])
    fold_new_records(ledger)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013-1")  # the summaries dropped, the rollups kept
    ledger.migrate()
    check(ledger)


def test_amounts_split_into_units_and_picounits_exactly() -> None:
    for text in ("0", "0.000000000001", "1.5", "123456789.999999999999", "0.1"):
        amount = Decimal(text)
        units, pico = to_pico(amount)
        assert 0 <= pico < 10**12 and from_pico(units, pico) == amount
    assert from_pico(3, 2 * 10**12 + 5) == Decimal("5.000000000005")  # sums of parts carry over
    with pytest.raises(ValueError):
        to_pico(Decimal("0.0000000000001"))
