"""The columnar SQL equals settlement's Python reference, on DuckDB and on ClickHouse (chDB).

Random records (charged or not, current, late, appended after the close, with and without an
end user) go through the same window the ledger path settles; the aggregates and the active
users the SQL gives on either engine are the reference's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revshare.accounts.end_users import KEY_PREFIX, end_user_identity
from revshare.analytics import sums
from revshare.analytics.feeder import micros
from revshare.analytics.store import COLUMNS, NAMES
from revshare.analytics.sums import aggregates_of, columnar_aggregate_sql, columnar_sightings_sql, sightings_of
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period, UsageAggregate, Window, aggregate, window_for
from revshare.settlement.users import Sighting
from tests.support.real_parts import import_or_skip
from tests.support.settlement_builders import catalog, record

CAT = catalog([
    {"id": "m", "licensor": "meta", "models": ["llama-3"], "share": "0.1", "effective_from": "2025-01-01",
     "effective_to": "2026-01-10T12:00:00"},
    {"id": "m", "licensor": "meta", "models": ["llama-3"], "share": "0.2", "effective_from": "2026-01-10T12:00:00"},
    {"id": "g", "licensor": "google", "models": ["gemma"], "share": "0.1", "effective_from": "2026-01-20"},
])
JAN_CLOSE = datetime(2026, 1, 1, 3, tzinfo=UTC)
FEB_CLOSE = datetime(2026, 2, 1, 3, tzinfo=UTC)
Ledger = tuple[list[UsageRecord], dict[str, datetime]]

instants = st.integers(min_value=-10 * 86400, max_value=45 * 86400).map(
    lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=s % 7 * 1000))


@st.composite
def ledgers(draw: st.DrawFn) -> Ledger:
    records, appended = [], {}
    for _ in range(draw(st.integers(0, 25))):
        started = draw(instants)
        r = record(CAT, started, customer=draw(st.sampled_from(["alice", "bob"])),
                   model=draw(st.sampled_from(["llama-3", "gemma", "llama-ft"])),
                   prompt=draw(st.integers(0, 5000)), completion=draw(st.integers(0, 5000)),
                   key_id=draw(st.sampled_from(["k1", "k2"])), outcome=draw(st.sampled_from(list(Outcome))))
        r = replace(r, end_user=draw(st.sampled_from(["", "", "e" * 64, "f" * 64])))
        records.append(r)
        appended[r.id] = started + timedelta(seconds=draw(st.integers(0, 5 * 86400)))
    return records, appended


def rows_of(data: Ledger) -> list[tuple[Any, ...]]:
    records, appended = data
    return [(seq, micros(r.started_at), micros(appended[r.id]), r.customer, r.key_id, r.model, r.price_version,
             r.outcome.value, r.prompt_tokens, r.completion_tokens, 0, str(r.amount), r.currency, r.end_user)
            for seq, r in enumerate(records, 1)]


def sightings(data: Ledger, window: Window) -> tuple[Sighting, ...]:
    """The reference: `monthend.period_users` in Python (started in the period, appended before the close)."""
    records, appended = data
    return tuple(sorted({Sighting(r.model, r.customer, r.key_id, end_user_identity(r.end_user, r.key_id))
                         for r in records if window.period.start <= r.started_at < window.period.end
                         and (window.closed_at is None or appended[r.id] < window.closed_at)}))


def on_duckdb(data: Ledger, window: Window) -> tuple[tuple[UsageAggregate, ...], tuple[Sighting, ...]]:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE usage ({', '.join(f'{n} {t}' for n, t in COLUMNS)})")
    if data[0]:
        con.executemany(f"INSERT INTO usage VALUES ({', '.join('?' * len(NAMES))})", rows_of(data))
    rows = con.execute(columnar_aggregate_sql(window)).fetchall()
    users = con.execute(columnar_sightings_sql(window)).fetchall()
    con.close()
    return aggregates_of(rows), sightings_of(users)


def windows() -> list[tuple[Window, bool]]:
    return [(window_for(CAT.contracts, Period(2026, 1), closed_at=FEB_CLOSE, late_after=JAN_CLOSE), True),
            (window_for(CAT.contracts, Period(2026, 1), closed_at=FEB_CLOSE), True),
            (window_for(CAT.contracts, Period(2026, 1)), False)]


@settings(max_examples=60, deadline=None)
@given(ledgers())
def test_duckdb_aggregates_equal_python(data: Ledger) -> None:
    records, appended = data
    for window, closed in windows():
        assert window.segments == 3
        assert on_duckdb(data, window) == (aggregate(records, window, appended if closed else None),
                                           sightings(data, window))


def test_users_count_the_records_of_the_month_appended_before_the_close() -> None:
    kept = replace(record(CAT, "2026-01-30T00:00:00", prompt=5, outcome=Outcome.ENGINE_ERROR), end_user="a" * 64)
    after_close = record(CAT, "2026-01-30T00:00:00", customer="bob", prompt=5)
    late = record(CAT, "2025-12-30T00:00:00", customer="bob", model="gemma", prompt=5)
    appended = {kept.id: datetime(2026, 1, 30, 1, tzinfo=UTC), after_close.id: datetime(2026, 2, 3, tzinfo=UTC),
                late.id: datetime(2026, 1, 20, tzinfo=UTC)}
    data = ([kept, after_close, late], appended)
    window = windows()[0][0]
    (agg,) = on_duckdb(data, window)[0]
    assert (agg.customer, agg.late) == ("bob", True)  # late usage is charged, but is not a user of the month
    assert on_duckdb(data, window)[1] == sightings(data, window) == (
        Sighting("llama-3", "alice", "key-alice", "a" * 64),)


def test_an_end_user_without_a_hash_is_its_key_as_the_ledger_counts_it() -> None:
    assert sums.KEY_PREFIX == KEY_PREFIX


# ClickHouse, in process ---------------------------------------------------------------------

CH_TYPES = {"BIGINT": "Int64", "VARCHAR": "String"}


@pytest.fixture(scope="module")
def clickhouse() -> Iterator[Any]:
    session: Any = import_or_skip("chdb.session", "chDB (ClickHouse in process, the dev extra)")
    s = session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS revshare")
    yield s
    s.close()


def on_clickhouse(s: Any, data: Ledger, window: Window) -> tuple[tuple[UsageAggregate, ...], tuple[Sighting, ...]]:
    s.query("DROP TABLE IF EXISTS revshare.usage")
    columns = ", ".join(f"{n} {CH_TYPES[t]}" for n, t in COLUMNS)
    s.query(f"CREATE TABLE revshare.usage ({columns}) ENGINE = MergeTree ORDER BY seq")
    if data[0]:
        values = ", ".join("(" + ", ".join(str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'"
                                           for v in row) + ")" for row in rows_of(data))
        s.query(f"INSERT INTO revshare.usage VALUES {values}")
    result = s.query(columnar_aggregate_sql(window, table="revshare.usage"), "JSONCompact")
    users = s.query(columnar_sightings_sql(window, table="revshare.usage"), "JSONCompact")
    return aggregates_of(json.loads(result.bytes())["data"]), sightings_of(json.loads(users.bytes())["data"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=ledgers())
def test_clickhouse_runs_the_same_sql_to_the_same_aggregates(clickhouse: Any, data: Ledger) -> None:
    records, appended = data
    for window, closed in windows():
        assert on_clickhouse(clickhouse, data, window) == (
            aggregate(records, window, appended if closed else None), sightings(data, window))
