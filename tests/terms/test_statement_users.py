"""Monthly active users on statements: the counts equal a count recomputed from the period's records
(property test over the SQL the close runs), the pages show them, a statement issued without them
is settled again without them, and a licensor's verifier takes them as stated and checks their form."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st

from revshare.accounts.end_users import end_user_identity
from revshare.ledger.schema import metadata, usage_records
from revshare.monthend.period_users import sightings_sql
from revshare.records.record import Outcome, UsageRecord
from revshare.settlement import Period, settle, statement_csv, statement_html, window_for
from revshare.settlement.users import ActiveUsers, Sighting
from tests.support.settlement_builders import catalog, record

CAT = catalog([
    {"id": "m", "licensor": "meta", "lineage": "llama-3", "share": "0.1", "effective_from": "2025-01-01"},
    {"id": "g", "licensor": "google", "models": ["gemma"], "share": "0.1", "effective_from": "2025-01-01"},
])
CLOSE = datetime(2026, 2, 1, 3, tzinfo=UTC)
JANUARY = Period(2026, 1)


def sightings(records: list[UsageRecord], appended: dict[str, datetime], window: Any) -> list[Sighting]:
    engine = sqlalchemy.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        if records:
            conn.execute(usage_records.insert(), [
                {**{k: v for k, v in r.to_json().items() if k != "licensors"}, "seq": i, "started_at": r.started_at,
                 "ended_at": r.ended_at, "outcome": r.outcome.value, "licensors": ",".join(r.licensors),
                 "appended_at": appended[r.id]} for i, r in enumerate(records, 1)])
        return sorted(Sighting(*row) for row in conn.execute(sightings_sql(window)))


instants = st.integers(min_value=-3 * 86400, max_value=34 * 86400).map(
    lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s))


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[UsageRecord], dict[str, datetime]]:
    records, appended = [], {}
    for _ in range(draw(st.integers(0, 30))):
        started = draw(instants)
        customer = draw(st.sampled_from(["alice", "bob", "carol"]))
        r = record(CAT, started, customer=customer, model=draw(st.sampled_from(["llama-3", "llama-ft", "gemma"])),
                   key_id=f"{customer}-{draw(st.sampled_from(['k1', 'k2']))}",
                   outcome=draw(st.sampled_from(list(Outcome))))
        r = dataclasses.replace(r, end_user=draw(st.sampled_from(["", "a" * 64, "b" * 64, "c" * 64])))
        records.append(r)
        appended[r.id] = started + timedelta(seconds=draw(st.integers(0, 3 * 86400)))
    return records, appended


@settings(max_examples=60, deadline=None)
@given(ledgers(), st.booleans())
def test_statement_counts_equal_a_count_recomputed_from_the_records(
        data: tuple[list[UsageRecord], dict[str, datetime]], with_close: bool) -> None:
    records, appended = data
    window = window_for(CAT.contracts, JANUARY, closed_at=CLOSE if with_close else None)
    result = settle(CAT, window, (), users=sightings(records, appended, window))
    taken = [r for r in records if JANUARY.start <= r.started_at < JANUARY.end
             and (not with_close or appended[r.id] < CLOSE)]
    covered = {"m": {"llama-3", "llama-ft"}, "g": {"gemma"}}
    assert {s.contract for s in result.statements} == {"m", "g"}
    for statement in result.statements:
        mine = [r for r in taken if r.model in covered[statement.contract]]

        def counts(rs: list[UsageRecord]) -> tuple[int, int, int]:
            return (len({end_user_identity(r.end_user, r.key_id) for r in rs}), len({r.customer for r in rs}),
                    len({r.key_id for r in rs}))

        users = statement.users
        assert users is not None
        assert (users.end_users, users.customers, users.keys) == counts(mine)
        assert [m.model for m in users.models] == sorted({r.model for r in mine})
        for m in users.models:
            assert (m.end_users, m.customers, m.keys) == counts([r for r in mine if r.model == m.model])
        assert ActiveUsers.from_json(statement.to_json()["users"]) == users


def test_a_statement_settled_without_users_has_no_users_field() -> None:
    (statement, _) = settle(CAT, window_for(CAT.contracts, JANUARY), ()).statements
    assert statement.users is None and "users" not in statement.to_json()


def test_the_page_and_the_csv_show_the_counts() -> None:
    day = datetime(2026, 1, 9, tzinfo=UTC)
    records = [dataclasses.replace(record(CAT, day, customer=c, model=m, key_id=k), end_user=e)
               for c, m, k, e in [("alice", "llama-3", "a1", "x" * 64), ("alice", "llama-ft", "a1", "x" * 64),
                                  ("bob", "llama-ft", "b1", "")]]
    window = window_for(CAT.contracts, JANUARY)
    meta = next(s for s in settle(CAT, window, (), users=sightings(records, {r.id: day for r in records},
                                                                    window)).statements if s.contract == "m")
    assert meta.to_json()["users"] == {"counted": "end_users", "end_users": 2, "customers": 2, "keys": 2, "models": [
        {"model": "llama-3", "end_users": 1, "customers": 1, "keys": 1},
        {"model": "llama-ft", "end_users": 2, "customers": 2, "keys": 2}]}
    page = statement_html(meta).decode()
    assert "<h2>Monthly active users</h2>" in page and "All models (each user once)" in page
    rows = [line.split(",") for line in statement_csv(meta).decode().splitlines()]
    header = rows[0]
    users = [dict(zip(header, row, strict=True)) for row in rows[1:] if row[4] == "users"]
    assert [(u["model"], u["item"], u["end_users"]) for u in users] == [("llama-3", "", "1"), ("llama-ft", "", "2"),
                                                                       ("", "all", "2")]


@pytest.mark.parametrize("bad", [None, [], {"models": "x"}, {"models": [{"model": "m"}]},
                                 {"models": [], "end_users": -1, "customers": 0, "keys": 0},
                                 {"models": [], "end_users": True, "customers": 0, "keys": 0}])
def test_a_malformed_users_field_is_refused_by_name(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"^users: "):
        ActiveUsers.from_json(bad)
