"""The gateway's side of the verifiable log: the background integrator and receipt building.

`LogService.start()` loads (or creates) the host key and pseudonym secret, then integrates
and signs every `[log] interval_s` seconds on a worker thread. A failure is logged as an
error and retried at the next tick; nothing inconsistent is ever signed (see
`logstore.integrator`). `receipt()` integrates on demand when the record is newer than the
logs, so a client may ask for its receipt right after its response.

Metrics and readiness. After each tick the service reads the logs' state in one short read
transaction (each log's size and newest checkpoint time, and the committed records past the
integration cursor, grouped by licensor chain) and keeps it as a `LogState`; the scrape-time
gauges `revshare_log_size`, `revshare_log_pending_records`, `revshare_log_checkpoint_age_seconds`
and `revshare_log_checkpoint_interval_seconds` read that snapshot and the clock, never the
database, so a scrape costs nothing and sees the state as of the last tick (at most one interval
old). Pending is per log: the records past the one cursor that go into that log.

Audit failures. The full audit (`revshare log audit`: every leaf against the ledger) is the CLI's;
the gateway does not run it. What the running gateway checks is what the integrator checks before
every signature: the last checkpoint verifies under this host's key with the same origin, the
stored tree extends it consistently, and the ledger has no gap below the records to integrate.
Each integration attempt refused for one of these (an `IntegrationError`) counts once in
`revshare_log_audit_failures_total`, under the refused log (a gap holds up every log, so it counts
under each). The refusal repeats at every tick until someone repairs the data, so the counter keeps
growing while the problem stays: alert on any increase.

Readiness (`ready()`): the logs are ready when no record waits, or when an integration succeeded
within `STALE_INTERVALS` intervals; otherwise the reason names the waiting records, the time since
the last success and the last error.

Witnesses. When the catalog names `[[witnesses]]`, a `WitnessSubmitter` (`logstore.witness_client`)
runs as a task of its own, woken after every integration: it submits each new checkpoint to each
witness and keeps the cosignatures, which the log routes then publish with the checkpoints. A slow
or unreachable witness never holds up integration nor readiness: it is logged, counted per witness
(`witness_status()`), and tried again at later rounds. `LogState.cosigned` holds, per log and
witness key, the largest size cosigned (read with the rest of the state, once a tick).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from revshare.config import Catalog
from revshare.ledger.idempotency import sweep_quietly
from revshare.ledger.schema import usage_records
from revshare.ledger.store import Ledger
from revshare.logstore.cosignatures import cosigned_sizes
from revshare.logstore.identity import LogIdentity, catalog_log_ids, load_identity, log_ids_for
from revshare.logstore.integrator import IntegrationError, SignedCheckpoint, integrate
from revshare.logstore.leader import Leadership
from revshare.logstore.schema import tlog_checkpoints, tlog_logs, tlog_state
from revshare.logstore.tree_store import LogReader, NotInLogError
from revshare.logstore.witness_client import WitnessStatus, WitnessSubmitter
from revshare.metrics import Metrics
from revshare.records.record import UsageRecord
from revshare.tlog import Receipt

__all__ = ["STALE_INTERVALS", "LogService", "LogState", "read_log_state"]

log = logging.getLogger("revshare.tlog")

# One tick integrates at most this many records, so a backlog cannot hold the lock for long.
TICK_RECORDS = 50_000
# The logs are not ready when records wait and nothing was signed for this many intervals.
STALE_INTERVALS = 5

Samples = Iterable[tuple[tuple[str, ...], float]]


@dataclass(frozen=True, slots=True)
class LogState:
    """The logs as of one read: per log id, its size, when its newest checkpoint was signed
    (epoch seconds), the committed records past the integration cursor that go into it, and per
    witness key (`<name>+<hex key id>`) the largest size that witness cosigned."""

    sizes: dict[str, int] = field(default_factory=dict)
    signed_at: dict[str, float] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    cosigned: dict[str, dict[str, int]] = field(default_factory=dict)


def read_log_state(ledger: Ledger) -> LogState:
    """One read transaction; its cost grows with the number of logs and of pending records only."""
    with ledger.engine.connect() as conn:
        sizes = {str(log_id): int(size) for log_id, size in conn.execute(select(tlog_logs.c.log_id, tlog_logs.c.size))}
        signed_at: dict[str, float] = {}
        for log_id in sizes:
            newest = conn.execute(select(tlog_checkpoints.c.signed_at).where(tlog_checkpoints.c.log_id == log_id)
                                  .order_by(tlog_checkpoints.c.size.desc()).limit(1)).scalar()
            if newest is not None:
                signed_at[log_id] = _epoch(newest)
        cursor = int(conn.execute(select(tlog_state.c.integrated_seq).where(tlog_state.c.id == 1)).scalar() or 0)
        pending = dict.fromkeys(sizes, 0)
        chains = conn.execute(select(usage_records.c.licensors, func.count())
                              .where(usage_records.c.seq > cursor).group_by(usage_records.c.licensors))
        for chain, count in chains:
            for log_id in log_ids_for(tuple(x for x in chain.split(",") if x)):
                pending[log_id] = pending.get(log_id, 0) + int(count)
        cosigned = cosigned_sizes(conn)
    return LogState(sizes, signed_at, pending, cosigned)


def _epoch(value: datetime) -> float:
    # SQLite gives back naive datetimes; every instant the integrator writes is UTC.
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


@dataclass
class LogService:
    """What the log routes need: the identity, a reader, and a serialized integrator."""

    catalog: Catalog
    ledger: Ledger
    identity: LogIdentity
    reader: LogReader
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _task: asyncio.Task[None] | None = None
    metrics: Metrics = field(default_factory=Metrics)
    last_error: str | None = None
    state: LogState = field(default_factory=LogState)
    _last_success: float = field(default_factory=time.monotonic)  # since start, until the first success
    witnesses: WitnessSubmitter | None = None
    # Which replica integrates on schedule (logstore.leader); receipts integrate on demand anywhere.
    leadership: Leadership | None = None

    @classmethod
    def start(cls, catalog: Catalog, ledger: Ledger, metrics: Metrics | None = None) -> LogService:
        identity = load_identity(catalog)
        service = cls(catalog, ledger, identity, LogReader(ledger, identity.key.verifier()),
                      metrics=metrics if metrics is not None else Metrics())
        service._observe()
        service.leadership = Leadership(ledger)
        if catalog.witnesses:
            service.witnesses = WitnessSubmitter(catalog, ledger)
            service.witnesses.start()
        service._task = asyncio.create_task(service._run(), name="revshare-tlog-integrator")
        log.info("tlog: verifier key %s", identity.key.verifier_text())
        return service

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.leadership is not None:
            await run_in_threadpool(self.leadership.release)
        if self.witnesses is not None:
            await self.witnesses.stop()

    async def integrate_now(self, max_records: int | None = None) -> dict[str, SignedCheckpoint]:
        """Integrate pending records (one integrator at a time in this process)."""
        async with self._lock:
            try:
                signed = await run_in_threadpool(
                    integrate, self.ledger, self.catalog, identity=self.identity, max_records=max_records)
            except IntegrationError as exc:
                self.last_error = str(exc)
                self._count_audit_failure(exc)
                raise
            self._last_success = time.monotonic()
            self.last_error = None
            if self.witnesses is not None:
                self.witnesses.wake()
            return signed

    async def _run(self) -> None:
        while True:
            try:
                if self.leadership is None or await run_in_threadpool(self.leadership.hold):
                    await self.integrate_now(TICK_RECORDS)
            except IntegrationError as exc:
                log.error("tlog: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup: log it, try again at the next tick
                self.last_error = f"integration failed: {exc.__class__.__name__}"
                log.exception("tlog: integration failed")
            await self.refresh_state()
            # The gateway's periodic chores share this tick: replay bodies past their window go.
            await run_in_threadpool(sweep_quietly, self.ledger, self.catalog.server.idempotency_retention_s)
            await asyncio.sleep(self.catalog.log.interval_s)

    async def refresh_state(self) -> None:
        """Read the logs' state for the gauges and readiness; keep the last one if the read fails."""
        try:
            self.state = await run_in_threadpool(read_log_state, self.ledger)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: the integration's own error says so
            log.debug("tlog: could not read the logs' state", exc_info=True)

    # readiness and metrics ----------------------------------------------------------------

    def seconds_since_signing(self) -> float:
        """Seconds since the last integration that succeeded (since start, before the first), here
        or in the replica that leads (the newest checkpoint read with the state)."""
        here = time.monotonic() - self._last_success
        newest = max(self.state.signed_at.values(), default=None)
        return here if newest is None else min(here, max(0.0, time.time() - newest))

    def ready(self) -> str | None:
        """None while the logs keep up; else why not (records wait and nothing signed for too long)."""
        waiting = [f"{log_id} ({n})" for log_id, n in sorted(self.state.pending.items()) if n]
        limit = STALE_INTERVALS * self.catalog.log.interval_s
        since = self.seconds_since_signing()
        if not waiting or since <= limit:
            return None
        reason = (f"records wait for log {', '.join(waiting)} and nothing was signed for {since:.0f} s "
                  f"(limit {limit:g} s, {STALE_INTERVALS} intervals)")
        return reason + (f": {self.last_error}" if self.last_error else "")

    def witness_status(self) -> dict[str, WitnessStatus]:
        """Per witness (catalog name): cosignatures kept, failures in a row and in all, the last error."""
        return self.witnesses.status() if self.witnesses is not None else {}

    def _count_audit_failure(self, exc: IntegrationError) -> None:
        logs = [exc.log_id] if exc.log_id else sorted({*catalog_log_ids(self.catalog), *self.state.sizes})
        for log_id in logs:
            self.metrics.log_audit_failures.labels(log=log_id).inc()

    def _observe(self) -> None:
        metrics = self.metrics

        def sizes() -> Samples:
            return [((log_id,), float(size)) for log_id, size in self.state.sizes.items()]

        def pending() -> Samples:
            return [((log_id,), float(n)) for log_id, n in self.state.pending.items()]

        def ages() -> Samples:
            now = time.time()
            return [((log_id,), max(0.0, now - at)) for log_id, at in self.state.signed_at.items()]

        metrics.observe_state("revshare_log_size", sizes)
        metrics.observe_state("revshare_log_pending_records", pending)
        metrics.observe_state("revshare_log_checkpoint_age_seconds", ages)
        metrics.observe_state("revshare_log_checkpoint_interval_seconds",
                              lambda: [((), float(self.catalog.log.interval_s))])

    async def receipt(self, record: UsageRecord, log_id: str | None) -> Receipt:
        """The receipt of a committed record in one of its logs (default: the first)."""
        logs = log_ids_for(record.licensors)
        chosen = log_id or logs[0]
        if chosen not in logs:
            raise NotInLogError(f"record {record.id} is not in log {chosen!r}; its logs are {', '.join(logs)}")
        seq = record.seq or 0
        if seq > await run_in_threadpool(self.reader.integrated_seq):
            await self.integrate_now()
        return await run_in_threadpool(self.reader.receipt, chosen, seq)
