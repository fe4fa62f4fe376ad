"""The ledger on SQLite and on PostgreSQL: gapless seqs, exact round trips, hashed keys."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from revshare.ledger.store import Ledger, hash_secret
from revshare.ledger.writer import GroupCommitWriter
from revshare.records.record import UsageRecord
from tests.support.records import record


@pytest.fixture
def ledger(ledger_url: str):
    ledger = Ledger(ledger_url)
    ledger.migrate()
    yield ledger
    ledger.close()


def test_records_round_trip_exactly(ledger: Ledger) -> None:
    original = [record(1, amount="0.000000000001"), record(2, amount="123456.123456789012")]
    assert ledger.append_now(original) == [1, 2]
    stored = ledger.records()
    assert [r.seq for r in stored] == [1, 2]
    for before, after in zip(original, stored, strict=True):
        assert after == UsageRecord(**{**{f: getattr(before, f) for f in before.__dataclass_fields__}, "seq": after.seq})
    assert isinstance(stored[1].amount, Decimal) and stored[1].amount == Decimal("123456.123456789012")


def test_migrate_is_idempotent(ledger: Ledger) -> None:
    ledger.migrate()
    ledger.append_now([record(1)])
    ledger.migrate()
    assert ledger.count() == 1


def test_group_commit_gives_gapless_seqs_under_concurrency(ledger: Ledger) -> None:
    writer = GroupCommitWriter(ledger, batch_max=64)
    writer.start()

    async def many() -> list[int]:
        return await asyncio.gather(*[writer.append(record(i)) for i in range(500)])

    try:
        seqs = asyncio.run(many())
    finally:
        writer.close()
    assert sorted(seqs) == list(range(1, 501))
    assert writer.batches < 500  # commits were shared
    stored = ledger.records()
    assert [r.seq for r in stored] == list(range(1, 501))
    assert {r.id: r.seq for r in stored} == {f"rec_test{i:08d}": s for i, s in enumerate(seqs)}


def test_two_ledgers_on_one_database_never_share_a_seq(ledger: Ledger, ledger_url: str) -> None:
    other = Ledger(ledger_url)
    try:
        for i in range(20):
            (ledger if i % 2 else other).append_now([record(i)])
        assert [r.seq for r in ledger.records()] == list(range(1, 21))
    finally:
        other.close()


def test_duplicate_record_id_is_refused_and_leaves_no_gap(ledger: Ledger) -> None:
    from sqlalchemy.exc import IntegrityError

    ledger.append_now([record(1)])
    with pytest.raises(IntegrityError):
        ledger.append_now([record(2), record(1)])
    assert ledger.append_now([record(3)]) == [2]


def test_keys_are_stored_hashed_and_revocable(ledger: Ledger) -> None:
    key, secret = ledger.create_key("acme", "ci")
    assert secret.startswith("rsk_") and len(secret) > 30
    with ledger.engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash FROM api_keys")).scalar_one()
    assert stored == hash_secret(secret) and secret not in stored
    assert ledger.find_key(secret) == key
    assert ledger.find_key(secret + "x") is None
    assert ledger.revoke_keys([key.key_id]) == 1
    assert ledger.find_key(secret) is None
    assert ledger.keys("acme")[0].revoked_at is not None


def test_customer_filter(ledger: Ledger) -> None:
    ledger.append_now([record(1, "acme"), record(2, "globex"), record(3, "acme")])
    assert [r.seq for r in ledger.records(customer="acme")] == [1, 3]
    assert [r.seq for r in ledger.records(after_seq=1, limit=1)] == [2]


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'x.db'}")
    ledger.migrate()
    with ledger.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 1  # NORMAL
    ledger.close()


def test_a_failed_batch_fails_its_waiters_and_the_writer_goes_on(tmp_path) -> None:
    from revshare.ledger.store import LedgerError

    ledger = Ledger(f"sqlite:///{tmp_path / 'x.db'}")
    ledger.migrate()
    ledger.append_now([record(1)])
    writer = GroupCommitWriter(ledger)
    writer.start()

    async def run() -> int:
        with pytest.raises(LedgerError):
            await writer.append(record(1))  # duplicate id: the batch is refused
        return await writer.append(record(2))

    try:
        assert asyncio.run(run()) == 2
    finally:
        writer.close()
        ledger.close()


def test_one_bad_record_does_not_sink_its_batch(ledger: Ledger) -> None:
    from revshare.ledger.store import LedgerError

    ledger.append_now([record(0)])
    writer = GroupCommitWriter(ledger, batch_max=64, wait_ms=20)
    writer.start()

    async def run() -> list[object]:
        return await asyncio.gather(*[writer.append(record(i)) for i in range(10)], return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        writer.close()
    assert isinstance(results[0], LedgerError)
    assert sorted(results[1:]) == list(range(2, 11))


def test_sqlite_full_sync_can_be_chosen(tmp_path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'x.db'}", synchronous="FULL")
    ledger.migrate()
    with ledger.engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
    ledger.close()
