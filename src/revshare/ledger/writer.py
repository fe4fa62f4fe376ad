"""Group commit: many requests' records share one transaction, off the event loop.

`await writer.append(record)` returns the record's seq once the transaction that holds it has
committed, so a response that waits for it is never reported complete before its record is
durable. One thread owns the writes; while it commits a batch, new records queue up and go in
the next one, so the commit cost is shared by every request that arrived in the meantime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from revshare.ledger.store import Ledger, LedgerError
from revshare.metering.record import UsageRecord

__all__ = ["GroupCommitWriter"]

log = logging.getLogger("revshare.ledger")

_STOP = object()


@dataclass(slots=True)
class _Pending:
    record: UsageRecord
    future: asyncio.Future[int]
    loop: asyncio.AbstractEventLoop


class GroupCommitWriter:
    """Batches appends into shared transactions on a dedicated thread."""

    def __init__(self, ledger: Ledger, *, batch_max: int = 256, wait_ms: float = 0.0) -> None:
        self._ledger = ledger
        self._batch_max = batch_max
        self._wait_s = wait_ms / 1000.0
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="revshare-ledger-writer", daemon=True)
        self._started = False
        self._conn: Any = None
        self.batches = 0
        self.appended = 0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    async def append(self, record: UsageRecord) -> int:
        """Queue a record and wait until it is committed; return its seq.

        Raises LedgerError if the batch that held it could not be written.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.put(_Pending(record, future, loop))
        # Not shielded, on purpose: the record is already queued and will be committed whether
        # or not anyone still waits for it (shield cost ~35 µs a request under uvloop).
        return await future

    def submit(self, record: UsageRecord) -> None:
        """Queue a record without waiting: for requests whose client is already gone.

        The record is committed with the next batch, or by `close()` at shutdown.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        future.add_done_callback(_consume)
        self._queue.put(_Pending(record, future, loop))

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._started = False

    # writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop_until_stopped()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _loop_until_stopped(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Pending] = [first]  # type: ignore[list-item]
            deadline = time.monotonic() + self._wait_s
            while len(batch) < self._batch_max:
                try:
                    if self._wait_s > 0:
                        item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    else:
                        item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            seqs = self._write([p.record for p in batch])
        except SQLAlchemyError as exc:
            if len(batch) > 1 and isinstance(exc, IntegrityError):
                # One bad record (a duplicate id) must not sink the others: retry one by one.
                for p in batch:
                    self._commit([p])
                return
            log.error("ledger write failed for %d record(s): %s", len(batch), exc.__class__.__name__)
            error = LedgerError(f"ledger write failed: {exc.__class__.__name__}")
            for p in batch:
                _notify(p, _fail, error)
            return
        self.batches += 1
        self.appended += len(batch)
        for p, seq in zip(batch, seqs, strict=True):
            _notify(p, _resolve, seq)

    def _write(self, records: list[UsageRecord]) -> list[int]:
        """One transaction on the writer's own DBAPI connection (no pool checkout per batch)."""
        if self._conn is None:
            self._conn = self._ledger.engine.raw_connection()
        conn = self._conn
        try:
            seqs = self._ledger.append_dbapi(conn, records)
            conn.commit()
            return seqs
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            conn.invalidate()  # a fresh connection next time: the database may have restarted
            self._conn = None
            raise


def _notify(pending: _Pending, callback: Any, value: Any) -> None:
    # A closed loop (shutdown) raises RuntimeError: the record is committed, nobody is waiting.
    with contextlib.suppress(RuntimeError):
        pending.loop.call_soon_threadsafe(callback, pending.future, value)


def _consume(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a record of a disconnected request could not be written")


def _resolve(future: asyncio.Future[int], seq: int) -> None:
    if not future.done():
        future.set_result(seq)


def _fail(future: asyncio.Future[int], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
