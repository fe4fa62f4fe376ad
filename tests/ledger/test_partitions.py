"""The monthly partitions of a PostgreSQL ledger (migration 0012, ledger/partitions.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

import revshare.ledger.store as store_module
import tests.support.tlog_ledger as h
from revshare.cli import app
from revshare.ledger.partitions import (
    add_months,
    attached_months,
    ensure_partitions,
    ensure_quietly,
    is_partitioned,
    month_of,
    partition_name,
)
from revshare.ledger.store import Ledger
from revshare.monthend.usage_sums import aggregate_sql
from revshare.records.record import UsageRecord
from revshare.settlement import Period
from revshare.settlement.period import Window
from tests.support.databases import postgres_database
from tests.support.statement_bundles import catalog_toml

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def started(n: int, when: datetime) -> UsageRecord:
    return replace(h.record(n), id=f"rec_p{n:08d}", started_at=when, ended_at=when)


def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    ledger = Ledger(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_module.__file__).parent / "migrations"))
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    ledger.close()


def partition_of(ledger: Ledger) -> dict[int, str]:
    with ledger.engine.connect() as conn:
        return {int(seq): str(t) for seq, t in conn.execute(text("SELECT seq, tableoid::regclass FROM usage_records"))}


def test_the_migration_moves_every_row_into_its_month_and_keeps_the_guarantees(pg_url: str) -> None:
    migrate_to(pg_url, "0011")
    old = Ledger(pg_url)
    old.append_now([started(1, at(2026, 1)), started(2, at(2026, 3)), started(3, at(2026, 1, 31)),
                    started(4, at(2025, 12, 31))])
    before = old.records()
    old.close()

    ledger = Ledger(pg_url)
    ledger.migrate()
    assert ledger.records() == before  # every row, every column, seq order
    assert partition_of(ledger) == {1: "usage_records_y2026m01", 2: "usage_records_y2026m03",
                                    3: "usage_records_y2026m01", 4: "usage_records_y2025m12"}
    now = month_of(datetime.now(UTC))
    with ledger.engine.connect() as conn:
        names = {p.name for p in attached_months(conn)}
    assert {partition_name(add_months(now, n)) for n in range(4)} <= names  # this month and three ahead

    # seq stays gapless and continues after the copied rows
    assert ledger.append_now([started(5, at(2026, 2))]) == [5]
    # the same record written twice (a retried commit) is refused, as before the migration
    with pytest.raises(IntegrityError):
        ledger.append_now([started(1, at(2026, 1))])
    assert ledger.count() == 5
    ledger.close()


def test_an_insert_outside_every_month_lands_in_the_default_partition_and_is_carved_out_later(
        pg_url: str) -> None:
    ledger = Ledger(pg_url)
    ledger.migrate()
    ledger.append_now([started(1, at(2019, 3)), started(2, at(2019, 3, 20))])
    assert set(partition_of(ledger).values()) == {"usage_records_default"}
    assert ensure_partitions(ledger, now=at(2019, 3)) == ["usage_records_y2019m03", "usage_records_y2019m04",
                                                          "usage_records_y2019m05", "usage_records_y2019m06"]
    assert set(partition_of(ledger).values()) == {"usage_records_y2019m03"}
    assert ensure_partitions(ledger, now=at(2019, 3)) == []  # idempotent
    assert [r.id for r in ledger.records()] == ["rec_p00000001", "rec_p00000002"]
    ledger.close()


def test_a_months_settlement_reads_only_that_months_partition(pg_url: str) -> None:
    ledger = Ledger(pg_url)
    ledger.migrate()
    ledger.append_now([started(n, at(2026, m)) for n, m in enumerate(range(1, 13), 1)])
    ensure_partitions(ledger, now=at(2026, 1), ahead=11)
    window = Window(Period.parse("2026-05"), closed_at=at(2026, 6, 3))

    def scanned(**part: datetime) -> set[str]:
        sql = str(aggregate_sql(window, **part).compile(dialect=postgresql.dialect(),
                                                        compile_kwargs={"literal_binds": True}))
        with ledger.engine.connect() as conn:
            plan = "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())
        return set(re.findall(r"usage_records_(?:y\d{4}m\d{2}|default)(?!\w)", plan))

    assert scanned() == {"usage_records_y2026m05"}  # the whole month in one statement
    # and each of `read_aggregates`' one-day pieces
    assert scanned(started_from=at(2026, 5, 3), started_before=at(2026, 5, 4)) == {"usage_records_y2026m05"}
    ledger.close()


def test_the_migration_can_be_undone_with_every_row(pg_url: str) -> None:
    migrate_to(pg_url, "0012")
    ledger = Ledger(pg_url)
    ledger.append_now([started(1, at(2026, 1)), started(2, at(2019, 3))])
    before = ledger.records()
    migrate_to(pg_url, "0011", down=True)
    with ledger.engine.connect() as conn:
        assert not is_partitioned(conn)
        assert conn.execute(text("SELECT count(*) FROM pg_inherits")).scalar() == 0  # no partition left
    assert ledger.records() == before
    with pytest.raises(IntegrityError):  # the id is unique on its own again
        ledger.append_now([started(1, at(2027, 1))])
    ledger.close()


def test_the_gateway_chore_logs_a_failure_instead_of_raising(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger(pg_url)
    ledger.migrate()
    with ledger.engine.begin() as conn:  # a table named as a coming month's partition exists, not attached
        conn.execute(text(f"CREATE TABLE {partition_name(add_months(month_of(datetime.now(UTC)), 4))} (x int)"))
    assert ensure_quietly(ledger, ahead=4) == []  # the existing table is left alone, nothing raised
    ledger.close()
    broken = Ledger(pg_url.rsplit("/", 1)[0] + "/revshare_no_such_database")
    assert ensure_quietly(broken) == []
    assert "could not create the coming months' partitions" in caplog.text
    broken.close()


def test_the_partitions_command_creates_ahead_and_refuses_sqlite(pg_url: str, tmp_path: Path) -> None:
    config = tmp_path / "revshare.toml"
    config.write_text(catalog_toml(pg_url, tmp_path / "data"))
    result = CliRunner().invoke(app, ["ledger", "partitions", "--ahead", "6", "--config", str(config)])
    assert result.exit_code == 0, result.output
    now = month_of(datetime.now(UTC))
    assert "created 3 partition(s)" in result.output  # the migration made this month and three ahead
    assert f"{add_months(now, 6):%Y-%m}" in result.output
    config.write_text(catalog_toml(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "data"))
    result = CliRunner().invoke(app, ["ledger", "partitions", "--config", str(config)])
    assert result.exit_code == 1 and "SQLite" in result.output
