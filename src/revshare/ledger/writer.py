"""Group commit: many requests' records share one transaction, off the event loop.

`await writer.append(record)` returns the record's seq once the transaction that holds it has
committed, so a response that waits for it is never reported complete before its record is
durable. One thread owns the writes; while it commits a batch, new records queue up and go in
the next one, so the commit cost is shared by every request that arrived in the meantime.

The same batches carry each request's intent (`await writer.reserve(intent)`: budget
reservation, idempotency claim, the row a crash leaves behind), so writing it costs a share of a
commit, not a transaction of its own. A record handed over with `submit` (nobody waits for it)
is never dropped on a write error: it is kept and retried every second until the ledger is back.

A request alone in flight on a SQLite ledger (no other request holds an intent) has nothing to
share a commit with: its intent and its record are committed on the event loop itself, when the
writer thread is idle and the database's write lock is free at once (`BEGIN IMMEDIATE` with no
busy wait), saving each of the two waits a thread hand-off there and back (docs/BENCHMARKS.md).
Anything else (a lock held, a failed write) goes to the writer thread as before, which retries
it with its own handling of failures: the inline attempt rolls back whole or commits whole.

The writer counts what each commit made durable, so every record is counted once, when
its transaction commits, whichever way it came (`append`, `submit`, a retry): records committed,
tokens by model and type, billed amount by model and currency, commit time and batch size. It
counts a batch before waking its waiters, so a response's record is counted by the time the
client has it. The backlog and the intents this process holds without a record yet are read at
scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from revshare.ledger.idempotency import DEFAULT_RETENTION_S
from revshare.ledger.reservations import ReservationSql
from revshare.ledger.sqlite_lock import begin_immediate
from revshare.ledger.store import SQLITE_BUSY_TIMEOUT_MS, Ledger, LedgerError
from revshare.metering.reservation import Final, Intent, IntentResult
from revshare.metrics import Metrics
from revshare.records.record import UsageRecord

if TYPE_CHECKING:
    from revshare.metrics.tally import CounterCell

__all__ = ["GroupCommitWriter"]

log = logging.getLogger("revshare.ledger")

_STOP = object()


_RETRY_S = 1.0


@dataclass(slots=True)
class _Pending:
    record: UsageRecord | None
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    final: Final | None = None
    intent: Intent | None = None
    keep: bool = False  # submitted without a waiter: retried until written


class GroupCommitWriter:
    """Batches appends into shared transactions on a dedicated thread."""

    def __init__(self, ledger: Ledger, *, batch_max: int = 256, wait_ms: float = 0.0,
                 metrics: Metrics | None = None, idempotency_retention_s: float = DEFAULT_RETENTION_S,
                 inline: bool = True, autocheckpoint: bool = True) -> None:
        self._ledger = ledger
        self.metrics = metrics if metrics is not None else Metrics()
        self._batch_max = batch_max
        self._wait_s = wait_ms / 1000.0
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._sql = ReservationSql(ledger.engine.dialect.paramstyle, ledger.is_sqlite, idempotency_retention_s)
        self._backlog: list[_Pending] = []
        self.healthy = True
        self._thread = threading.Thread(target=self._run, name="revshare-ledger-writer", daemon=True)
        # Held by whoever commits on the writer's connection: its thread, or the event loop inline.
        self._lock = threading.Lock()
        self._inline = ledger.is_sqlite and inline
        # SQLite runs a WAL checkpoint in the commit that crosses 1,000 pages, so every request
        # waiting on the next batch waited for it too (15-25 ms every few hundred ms at 16 clients);
        # without, the owner checkpoints on its own timer (`Ledger.checkpoint_wal`).
        self._autocheckpoint = autocheckpoint or not ledger.is_sqlite
        self._started = False
        self._conn: Any = None  # the pool's proxy: it closes and invalidates the connection
        # The driver's connection under it, which statements and commits go to: the proxy
        # forwards `commit` through `__getattr__`, an AttributeError raised and caught each time.
        self._dbapi: Any = None
        self.batches = 0
        self.appended = 0
        # Record ids whose intent committed and whose record has not: touched by the writer thread only.
        self._intents: set[str] = set()
        self._series: dict[tuple[str, str], tuple[CounterCell, CounterCell, CounterCell]] = {}
        self.metrics.observe_state("revshare_ledger_backlog", self._backlog_state)
        self.metrics.observe_state("revshare_ledger_intents_outstanding", self._intents_state)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    async def append(self, record: UsageRecord, final: Final | None = None) -> int:
        """Queue a record (and what its transaction settles) and wait until it is committed;
        return its seq.

        Raises LedgerError if the batch that held it could not be written.
        """
        if self._inline and len(self._intents) == 1 and record.id in self._intents:  # its own intent, alone
            seq = self._commit_inline(record, final, None)
            if seq is not None:
                return int(seq)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.put(_Pending(record, future, loop, final))
        # Not shielded, on purpose: the record is already queued and will be committed whether
        # or not anyone still waits for it (shield cost ~35 µs a request under uvloop).
        return await future

    async def reserve(self, intent: Intent) -> IntentResult:
        """Write a request's intent in the next batch; raise LedgerError if it could not be."""
        if self._inline and not self._intents:
            result = self._commit_inline(None, None, intent)
            if result is not None:
                return result  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IntentResult] = loop.create_future()
        self._queue.put(_Pending(None, future, loop, intent=intent))
        return await future

    def submit(self, record: UsageRecord, final: Final | None = None) -> None:
        """Queue a record without waiting: for requests whose client is already gone.

        The record is committed with the next batch, or by `close()` at shutdown; a write error
        keeps it for a retry.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        future.add_done_callback(_consume)
        self._queue.put(_Pending(record, future, loop, final, keep=True))

    @property
    def backlog(self) -> int:
        """Records waiting for the ledger to come back."""
        return len(self._backlog)

    def _backlog_state(self) -> Iterable[tuple[tuple[str, ...], float]]:
        # Queued for the next batch, plus what waits for the ledger to come back.
        return (((), float(self._queue.qsize() + len(self._backlog))),)

    def _intents_state(self) -> Iterable[tuple[tuple[str, ...], float]]:
        return (((), float(len(self._intents))),)

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
                self._conn = self._dbapi = None

    def _loop_until_stopped(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=_RETRY_S if self._backlog else None)
            except queue.Empty:
                retry, self._backlog = self._backlog, []
                with self._lock:
                    self._commit(retry)
                continue
            if first is _STOP:
                break
            batch: list[_Pending] = [*self._backlog, first]  # type: ignore[list-item]
            self._backlog = []
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
            with self._lock:
                self._commit(batch)
        if self._backlog:  # shutting down: one last try
            retry, self._backlog = self._backlog, []
            with self._lock:
                self._commit(retry)

    def _commit(self, batch: list[_Pending]) -> None:
        records = [p for p in batch if p.record is not None]
        intents = [p for p in batch if p.intent is not None]
        started = time.perf_counter()
        try:
            seqs, results = self._write(records, intents)
        except Exception as exc:  # the writer thread must outlive any failure (a driver's own errors too)
            if len(batch) > 1 and isinstance(exc, IntegrityError):
                # One bad record (a duplicate id) must not sink the others: retry one by one.
                for p in batch:
                    self._commit([p])
                return
            if self.healthy:
                log.error("ledger write failed for %d item(s): %s", len(batch), exc.__class__.__name__)
            self.healthy = False
            error = LedgerError(f"ledger write failed: {exc.__class__.__name__}")
            for p in batch:
                if p.keep and not isinstance(exc, IntegrityError):
                    self._backlog.append(p)
                else:
                    _notify(p, _fail, error)
            return
        if not self.healthy:
            log.warning("ledger writable again")
        self.healthy = True
        # Counted before the waiters are woken: once a response is out its record is counted, and
        # the event loop, once woken, does not wait on this thread for the GIL.
        self._observe(time.perf_counter() - started, len(batch), records, intents, results)
        for p, seq in zip(records, seqs, strict=True):
            _notify(p, _resolve, seq)
        for p, result in zip(intents, results, strict=True):
            _notify(p, _resolve, result)

    def _commit_inline(self, record: UsageRecord | None, final: Final | None, intent: Intent | None) -> Any:
        """Commit one record or one intent on the calling (event loop's) thread, when that costs no
        wait: the writer thread idle, nothing queued, the ledger healthy and its write lock free.
        Return the seq or the `IntentResult`; None when it was not committed (nothing was written)."""
        if self._backlog or not self.healthy or not self._queue.empty() or not self._lock.acquire(blocking=False):
            return None
        try:
            try:
                if not self._begin(wait=False):
                    return None
            except Exception:  # the connection itself failed: the thread's next commit opens another
                self._drop_connection()
                return None
            pending = _Pending(record, None, None, final, intent)  # type: ignore[arg-type]
            records, intents = ([pending], []) if record is not None else ([], [pending])
            started = time.perf_counter()
            try:
                seqs, results = self._write(records, intents, begun=True)
            except Exception:  # rolled back: the writer thread tries again, and answers a failure
                return None
            self._observe(time.perf_counter() - started, 1, records, intents, results)
            return seqs[0] if records else results[0]
        finally:
            self._lock.release()

    def _drop_connection(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.invalidate()
        self._conn = self._dbapi = None

    def _connection(self) -> Any:
        """The writer's own DBAPI connection, opened on first need (and again after a failure)."""
        if self._conn is None:
            conn = self._ledger.engine.raw_connection()
            if self._ledger.is_sqlite:
                cursor = conn.cursor()
                try:
                    # The writer waits for another connection's write lock itself (`_begin`), so
                    # that an inline commit can try for it without waiting, at no extra statement.
                    cursor.execute("PRAGMA busy_timeout=0")
                    if not self._autocheckpoint:
                        cursor.execute("PRAGMA wal_autocheckpoint=0")
                finally:
                    cursor.close()
            self._conn, self._dbapi = conn, conn.dbapi_connection
        return self._dbapi

    def _begin(self, *, wait: bool) -> bool:
        """`BEGIN IMMEDIATE` on the writer's SQLite connection, waiting for another connection's
        lock or not (`ledger.sqlite_lock`)."""
        cursor = self._connection().cursor()
        try:
            return begin_immediate(cursor, wait=wait, timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000)
        finally:
            cursor.close()

    def _observe(self, seconds: float, size: int, records: list[_Pending], intents: list[_Pending],
                 results: list[IntentResult]) -> None:
        """Count what one commit made durable (writer thread): a few µs a batch, a fraction of one
        a record (summed per model and currency in plain numbers first)."""
        self.batches += 1
        self.appended += len(records)
        metrics = self.metrics
        metrics.commit_seconds.observe(seconds)
        metrics.commit_batch_size.observe(size)
        for p, result in zip(intents, results, strict=True):
            if result.ok:
                self._intents.add(p.intent.record_id)  # type: ignore[union-attr]
        if not records:
            return
        metrics.records_committed.inc(len(records))
        sums: dict[tuple[str, str], list[Any]] = {}
        for p in records:
            record: UsageRecord = p.record  # type: ignore[assignment]
            self._intents.discard(record.id)
            row = sums.get((record.model, record.currency))
            if row is None:
                sums[(record.model, record.currency)] = [record.prompt_tokens, record.completion_tokens, record.amount]
            else:
                row[0] += record.prompt_tokens
                row[1] += record.completion_tokens
                row[2] += record.amount
        for (model, currency), (prompt, completion, amount) in sums.items():
            counters = self._series.get((model, currency))
            if counters is None:
                counters = self._series[(model, currency)] = (
                    metrics.tokens.labels(model, "input"), metrics.tokens.labels(model, "output"),
                    metrics.billed.labels(model, currency))
            counters[0].inc(prompt)
            counters[1].inc(completion)
            counters[2].inc(float(amount))  # the Prometheus boundary: the ledger's Decimal stays the truth

    def _write(self, records: list[_Pending], intents: list[_Pending], *,
               begun: bool = False) -> tuple[list[int], list[IntentResult]]:
        """One transaction on the writer's own DBAPI connection (no pool checkout per batch);
        `begun` when the caller opened it already."""
        conn = self._connection()
        dbapi_error = self._ledger.engine.dialect.loaded_dbapi.Error
        try:
            if self._ledger.is_sqlite and not begun:
                self._begin(wait=True)
            # The record append first: it locks `ledger_state` before anything else.
            seqs = self._ledger.append_dbapi(conn, [p.record for p in records]) if records else []  # type: ignore[misc]
            finals = [p.final for p in records if p.final is not None]
            results: list[IntentResult] = []
            if finals or intents:
                cursor = conn.cursor()
                try:
                    results = self._sql.run(cursor, finals, [p.intent for p in intents])  # type: ignore[misc]
                except dbapi_error as exc:
                    raise DBAPIError.instance("admission batch", None, exc, dbapi_error) from exc
                finally:
                    cursor.close()
            conn.commit()
            return seqs, results
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            self._conn.invalidate()  # a fresh connection next time: the database may have restarted
            self._conn = self._dbapi = None
            raise


def _notify(pending: _Pending, callback: Any, value: Any) -> None:
    # A closed loop (shutdown) raises RuntimeError: the record is committed, nobody is waiting.
    with contextlib.suppress(RuntimeError):
        pending.loop.call_soon_threadsafe(callback, pending.future, value)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a record of a disconnected request could not be written")


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
