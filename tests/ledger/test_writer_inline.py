"""A request alone in flight on SQLite commits its intent and its record on the event loop
(`GroupCommitWriter._commit_inline`); anything else goes to the writer thread as before."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from revshare.ledger.store import Ledger
from revshare.ledger.writer import GroupCommitWriter
from revshare.metering.reservation import Final, Intent
from tests.support.records import record


@pytest.fixture
def ledger_url(sqlite_url: str) -> str:
    """SQLite only, where commits can be inline: the root `ledger` fixture migrates it."""
    return sqlite_url


def intent_for(number: int) -> Intent:
    return Intent(record(number).id, "gw_test", 0, (), {"model": "m"})


def final_for(number: int) -> Final:
    return Final(record(number).id, 0, 0, ())


def test_a_request_alone_is_committed_without_the_writer_thread(ledger: Ledger) -> None:
    writer = GroupCommitWriter(ledger)  # never started: only an inline commit can answer

    async def one_request() -> tuple[bool, int]:
        reserved = await writer.reserve(intent_for(1))
        return reserved.ok, await writer.append(record(1), final_for(1))

    assert asyncio.run(asyncio.wait_for(one_request(), 30)) == (True, 1)
    assert [r.id for r in ledger.records()] == [record(1).id]
    assert (writer.batches, writer.appended) == (2, 1)  # the intent, then the record: each its own commit


def test_a_second_request_in_flight_goes_to_the_thread_and_shares_its_commits(ledger: Ledger) -> None:
    writer = GroupCommitWriter(ledger, wait_ms=20)
    writer.start()

    async def two_in_flight() -> list[int]:
        assert (await writer.reserve(intent_for(1))).ok  # alone: inline
        batches = writer.batches
        # Another request's intent while the first is in flight, then both records: the thread's.
        assert (await writer.reserve(intent_for(2))).ok
        seqs = await asyncio.gather(writer.append(record(1), final_for(1)), writer.append(record(2), final_for(2)))
        assert writer.batches - batches == 2  # the second intent, then both records in one commit
        return list(seqs)

    try:
        assert sorted(asyncio.run(two_in_flight())) == [1, 2]
    finally:
        writer.close()


def test_a_record_without_an_intent_is_never_committed_inline(ledger: Ledger) -> None:
    writer = GroupCommitWriter(ledger, batch_max=64)
    writer.start()

    async def many() -> list[int]:
        return list(await asyncio.gather(*[writer.append(record(i)) for i in range(50)]))

    try:
        assert sorted(asyncio.run(many())) == list(range(1, 51))
    finally:
        writer.close()
    assert writer.batches < 50  # shared, as before


def test_a_held_write_lock_is_not_waited_for_on_the_event_loop(ledger: Ledger, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    writer = GroupCommitWriter(ledger)
    writer.start()
    gave_way: list[bool] = []
    begin = writer._begin

    def spy(*, wait: bool) -> bool:
        began = begin(wait=wait)
        if not wait:  # the event loop's try
            gave_way.append(not began)
        return began

    monkeypatch.setattr(writer, "_begin", spy)
    other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)

    async def while_locked() -> bool:
        other.execute("BEGIN IMMEDIATE")  # another connection writes
        task = asyncio.create_task(writer.reserve(intent_for(1)))
        await asyncio.sleep(0.3)
        waiting = not task.done()  # the thread waits for the lock; this loop ran on meanwhile
        other.execute("ROLLBACK")
        return waiting and (await task).ok

    try:
        assert asyncio.run(asyncio.wait_for(while_locked(), 30))
    finally:
        other.close()
        writer.close()
    assert gave_way == [True]
    assert ledger.engine.dialect.name == "sqlite"


def test_the_thread_waits_out_a_held_write_lock_and_gives_up_after_the_busy_timeout(
        ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's connection has no busy handler of its own (`busy_timeout=0`): its thread waits
    for another connection's write lock in `_begin`, and fails the batch (SQLITE_BUSY) once the
    busy timeout has passed, as SQLite's own handler did."""
    monkeypatch.setattr("revshare.ledger.writer.SQLITE_BUSY_TIMEOUT_MS", 300)
    writer = GroupCommitWriter(ledger, inline=False)
    writer.start()
    other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)

    async def held_for(seconds: float, number: int) -> bool:
        other.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(writer.reserve(intent_for(number)))
        await asyncio.sleep(seconds)
        other.execute("ROLLBACK")
        try:
            return (await task).ok
        except Exception as exc:
            assert "ledger write failed: OperationalError" in str(exc)
            return False

    try:
        assert asyncio.run(asyncio.wait_for(held_for(0.1, 1), 30))  # released in time: written
        assert not asyncio.run(asyncio.wait_for(held_for(1.0, 2), 30))  # held past the timeout: failed
        assert asyncio.run(asyncio.wait_for(held_for(0.0, 3), 30))  # and the next batch is written again
    finally:
        other.close()
        writer.close()
