"""The SQL aggregation equals the Python reference, on an in-memory SQLite ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st

from revshare.ledger.schema import metadata, usage_records
from revshare.monthend import usage_sums
from revshare.monthend.usage_sums import aggregate_sql, aggregates_from_rows
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period, UsageAggregate, aggregate, window_for
from tests.support.settlement_builders import catalog, record

CAT = catalog([
    {"id": "m", "licensor": "meta", "models": ["llama-3"], "share": "0.1", "effective_from": "2025-01-01",
     "effective_to": "2026-01-10T12:00:00"},
    {"id": "m", "licensor": "meta", "models": ["llama-3"], "share": "0.2", "effective_from": "2026-01-10T12:00:00"},
    {"id": "g", "licensor": "google", "models": ["gemma"], "share": "0.1", "effective_from": "2026-01-20"},
])
JAN_CLOSE = datetime(2026, 1, 1, 3, tzinfo=UTC)  # when December was closed
FEB_CLOSE = datetime(2026, 2, 1, 3, tzinfo=UTC)


def run_sql(records: list[UsageRecord], appended: dict[str, datetime], window: Any) -> tuple[UsageAggregate, ...]:
    engine = sqlalchemy.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        if records:
            conn.execute(usage_records.insert(), [
                {**{k: v for k, v in r.to_json().items() if k not in ("licensors",)},
                 "seq": i, "started_at": r.started_at, "ended_at": r.ended_at, "outcome": r.outcome.value,
                 "licensors": ",".join(r.licensors), "appended_at": appended[r.id]}
                for i, r in enumerate(records)
            ])
        rows = conn.execute(aggregate_sql(window)).all()
    return aggregates_from_rows(rows)


instants = st.integers(min_value=-10 * 86400, max_value=45 * 86400).map(
    lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=s % 7 * 1000))


@st.composite
def ledger(draw: st.DrawFn) -> tuple[list[UsageRecord], dict[str, datetime]]:
    records, appended = [], {}
    for _ in range(draw(st.integers(0, 25))):
        started = draw(instants)
        r = record(CAT, started, customer=draw(st.sampled_from(["alice", "bob"])),
                   model=draw(st.sampled_from(["llama-3", "gemma", "llama-ft"])),
                   prompt=draw(st.integers(0, 5000)), completion=draw(st.integers(0, 5000)),
                   key_id=draw(st.sampled_from(["k1", "k2"])), outcome=draw(st.sampled_from(list(Outcome))))
        records.append(r)
        appended[r.id] = started + timedelta(seconds=draw(st.integers(0, 5 * 86400)))
    return records, appended


@settings(max_examples=60, deadline=None)
@given(ledger(), st.booleans())
def test_sql_aggregates_equal_python(data: tuple[list[UsageRecord], dict[str, datetime]], with_close: bool) -> None:
    records, appended = data
    if with_close:
        window = window_for(CAT.contracts, Period(2026, 1), closed_at=FEB_CLOSE, late_after=JAN_CLOSE)
    else:
        window = window_for(CAT.contracts, Period(2026, 1))
    assert window.segments == 3
    assert run_sql(records, appended, window) == aggregate(records, window, appended if with_close else None)


def test_late_usage_is_segmented_by_append_time() -> None:
    window = window_for(CAT.contracts, Period(2026, 1), closed_at=FEB_CLOSE, late_after=JAN_CLOSE)
    r = record(CAT, "2025-12-31T23:00:00", prompt=7)
    appended = {r.id: datetime(2026, 1, 15, tzinfo=UTC)}
    (agg,) = aggregate([r], window, appended)
    assert (agg.late, agg.segment, agg.prompt_tokens) == (True, 1, 7)
    assert run_sql([r], appended, window) == (agg,)


def test_the_sql_side_is_public_in_the_month_end_room() -> None:
    assert sorted(usage_sums.__all__) == usage_sums.__all__
    assert {"aggregate_sql", "aggregates_from_rows", "read_aggregates"} <= set(usage_sums.__all__)
