"""`project_row` (what the integrator hashes) is byte-identical to `project` of the same record.

The integrator reads `usage_records` rows straight from the driver and projects them without a
UsageRecord; the ledger's own read path (rows -> UsageRecord -> `project`) is the reference.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revshare.ledger.store import Ledger
from revshare.logstore.integrator import _read_rows
from revshare.records.projection import PROJECTION_FIELDS, ROW_COLUMNS, project, project_row
from revshare.records.record import Outcome, UsageRecord
from revshare.tlog import leaf_data

SECRET = b"s" * 32
_ids = itertools.count()

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=24)
ident = st.text(st.characters(codec="utf-8", exclude_characters="\x00,"), min_size=1, max_size=12)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, None])).map(
    lambda t: t.replace(tzinfo=UTC) if t.tzinfo is None else t)
tokens = st.integers(min_value=0, max_value=2**31 - 1)
amounts = st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False, allow_infinity=False)


@st.composite
def records(draw: st.DrawFn) -> UsageRecord:
    started = draw(times)
    return UsageRecord(
        id=f"rec_p{next(_ids):012d}", started_at=started, ended_at=started + draw(st.timedeltas(
            min_value=timedelta(0), max_value=timedelta(hours=2))),
        customer=draw(text), key_id=draw(text), model=draw(text), engine="e", endpoint=draw(text),
        outcome=draw(st.sampled_from(list(Outcome))), prompt_tokens=draw(tokens), completion_tokens=draw(tokens),
        amount=draw(amounts), currency=draw(st.sampled_from(["USD", "EUR", "JPY"])), price_version=draw(text),
        licensors=tuple(draw(st.lists(ident, max_size=3))), cached_tokens=draw(tokens), estimated=draw(st.booleans()),
        stream=draw(st.booleans()), idempotency_key=draw(st.none() | text),
    )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path: Path = tmp_path_factory.mktemp("projection-rows")
    ledger = Ledger(f"sqlite:///{path}/ledger.db")
    ledger.migrate()
    yield ledger
    ledger.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(records(), min_size=1, max_size=8))
def test_rows_project_to_the_same_bytes_as_records(ledger: Ledger, batch: list[UsageRecord]) -> None:
    seqs = ledger.append_now(batch)
    after = seqs[0] - 1
    want = [leaf_data(project(r, SECRET)) for r in ledger.records(after_seq=after, limit=len(batch))]
    with ledger.engine.connect() as conn:
        got = [leaf_data(project_row(row, SECRET)) for row in _read_rows(conn, after, len(batch))]
    assert got == want


def test_row_columns_and_fields() -> None:
    r = UsageRecord(id="rec_x", started_at=datetime(2026, 1, 1, tzinfo=UTC), ended_at=datetime(2026, 1, 1, 0, 0, 1,
                    tzinfo=UTC), customer="c", key_id="k", model="m", engine="e", endpoint="completions",
                    outcome=Outcome.REJECTED, prompt_tokens=1, completion_tokens=2, amount=Decimal("0E-12"),
                    currency="USD", price_version="", seq=9)
    row = (9, "rec_x", r.started_at, r.ended_at.replace(tzinfo=None), "c", "k", "m", "", "completions", 0, 1, 2, 0,
           "rejected", "", "0E-12", "USD", 0)
    assert len(row) == len(ROW_COLUMNS)
    assert sorted(project_row(row, SECRET)) == sorted(PROJECTION_FIELDS)
    assert leaf_data(project_row(row, SECRET)) == leaf_data(project(r, SECRET))
    with pytest.raises(ValueError, match="not a valid Outcome"):
        project_row((*row[:13], "exploded", *row[14:]), SECRET)
