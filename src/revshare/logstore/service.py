"""The gateway's side of the verifiable log: the background integrator and receipt building.

`LogService.start()` loads (or creates) the host key and pseudonym secret, then integrates
and signs every `[log] interval_s` seconds on a worker thread. A failure is logged as an
error and retried at the next tick; nothing inconsistent is ever signed (see
`ledger.integrator`). `receipt()` integrates on demand when the record is newer than the
logs, so a client may ask for its receipt right after its response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.logstore.identity import LogIdentity, load_identity, log_ids_for
from revshare.logstore.integrator import IntegrationError, SignedCheckpoint, integrate
from revshare.logstore.tree_store import LogReader, NotInLogError
from revshare.metrics import Metrics
from revshare.records.record import UsageRecord
from revshare.tlog import Receipt

__all__ = ["LogService"]

log = logging.getLogger("revshare.tlog")

# One tick integrates at most this many records, so a backlog cannot hold the lock for long.
TICK_RECORDS = 50_000


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

    @classmethod
    def start(cls, catalog: Catalog, ledger: Ledger, metrics: Metrics | None = None) -> LogService:
        identity = load_identity(catalog)
        service = cls(catalog, ledger, identity, LogReader(ledger, identity.key.verifier()),
                      metrics=metrics if metrics is not None else Metrics())
        service._task = asyncio.create_task(service._run(), name="revshare-tlog-integrator")
        log.info("tlog: verifier key %s", identity.key.verifier_text())
        return service

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def integrate_now(self, max_records: int | None = None) -> dict[str, SignedCheckpoint]:
        """Integrate pending records (one integrator at a time in this process)."""
        async with self._lock:
            return await run_in_threadpool(
                integrate, self.ledger, self.catalog, identity=self.identity, max_records=max_records)

    async def _run(self) -> None:
        while True:
            try:
                await self.integrate_now(TICK_RECORDS)
                self.last_error = None
            except IntegrationError as exc:
                self.last_error = str(exc)
                log.error("tlog: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: log it, try again at the next tick
                log.exception("tlog: integration failed")
            await asyncio.sleep(self.catalog.log.interval_s)

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
