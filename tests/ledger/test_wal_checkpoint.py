"""SQLite's WAL checkpoints off the commit path: the gateway's writer never checkpoints in a commit
(`GroupCommitWriter(autocheckpoint=False)`), and the gateway copies the WAL into the database on a
timer of its own (`Ledger.checkpoint_wal`), so the database file still grows as records commit."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from revshare.ledger.store import Ledger
from revshare.ledger.writer import GroupCommitWriter
from revshare.serving.gateway import open_gateway
from tests.support.records import record
from tests.support.stub_gateway import stub_catalog

# Enough records that SQLite's automatic checkpoint (1,000 WAL pages) would have run many times.
RECORDS = 6000
BATCH = 20


@pytest.fixture
def ledger_url(sqlite_url: str) -> str:
    """SQLite only, which has a WAL: the root `ledger` fixture migrates it."""
    return sqlite_url


@pytest.fixture
def path(ledger: Ledger) -> Path:
    """The ledger's database file."""
    return Path(str(ledger.engine.url.database))


def _append_all(writer: GroupCommitWriter, start: int = 1) -> None:
    async def appends() -> None:
        for first in range(start, start + RECORDS, BATCH):
            await asyncio.gather(*(writer.append(record(n)) for n in range(first, first + BATCH)))

    asyncio.run(asyncio.wait_for(appends(), 120))


def _frames(ledger: Ledger) -> int:
    """Frames in the WAL since it last restarted (a checkpoint of nothing left to copy reads them)."""
    return ledger.checkpoint_wal()[0]


@pytest.mark.parametrize("autocheckpoint", [True, False])
def test_the_writer_checkpoints_in_its_commits_only_when_asked_to(ledger: Ledger, path: Path,
                                                                   autocheckpoint: bool) -> None:
    writer = GroupCommitWriter(ledger, autocheckpoint=autocheckpoint)
    writer.start()
    try:
        database_before = path.stat().st_size
        _append_all(writer)
        grown = path.stat().st_size - database_before  # what checkpoints copied into the database
        frames = _frames(ledger)
    finally:
        writer.close()
    assert ledger.count() == RECORDS
    if autocheckpoint:  # SQLite's own: the WAL restarted along the way, the database grew as it went
        assert frames < 1500 and grown > 0
    else:  # never checkpointed by the commits: every frame is still in the WAL until asked
        assert frames > 3000 and grown == 0
        assert path.stat().st_size > database_before  # the checkpoint just asked for copied them
        frames, copied = ledger.checkpoint_wal()
        assert frames == copied


def test_checkpoint_wal_copies_every_committed_frame_and_is_a_no_op_on_postgresql(ledger: Ledger) -> None:
    ledger.append_now([record(n) for n in range(1, 50)])
    frames, copied = ledger.checkpoint_wal()
    assert frames == copied > 0
    postgres = Ledger("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected to
    assert postgres.checkpoint_wal() == (0, 0)


def test_a_running_gateway_copies_its_writers_wal_into_the_database(ledger: Ledger, path: Path) -> None:
    async def run() -> tuple[int, int]:
        async with open_gateway(stub_catalog("http://127.0.0.1:9/v1"), ledger, {}, "admin-token") as gateway:
            before = path.stat().st_size
            for first in range(1, 1 + RECORDS, BATCH):
                await asyncio.gather(*(gateway.writer.append(record(n)) for n in range(first, first + BATCH)))
            deadline = time.monotonic() + 30
            while os.stat(path).st_size == before and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # the gateway's checkpoint runs twice a second
            return before, path.stat().st_size

    before, after = asyncio.run(run())
    assert after > before
    assert ledger.count() == RECORDS
