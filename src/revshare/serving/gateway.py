"""What a running gateway holds: the catalog, the ledger and its writer, engines, key cache,
rate limits and its lease on its own intents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from anyio.to_thread import run_sync

from revshare.accounts.directory import Directory
from revshare.accounts.store import Accounts, Actor
from revshare.config import Catalog
from revshare.engines.base import Engine
from revshare.engines.registry import build_engines
from revshare.ledger.partitions import ensure_partitions, ensure_quietly
from revshare.ledger.recovery import InstanceLease, resolve_orphans
from revshare.ledger.store import ApiKey, Ledger, hash_secret
from revshare.ledger.writer import GroupCommitWriter
from revshare.metering.limits import Limiter, RateLimiter
from revshare.metering.limits_redis import RedisLimiter, redis_url
from revshare.metering.refusal import Refusal, RefusalKind, Refused
from revshare.metrics import Metrics
from revshare.metrics.tally import HistogramCell
from revshare.reporting.fold import FOLD_BATCH, fold_new_records

__all__ = ["Gateway", "KeyCache", "ModelSeries", "open_gateway"]

log = logging.getLogger("revshare")


@dataclass
class KeyCache:
    """Recently seen keys, so that most requests authenticate without a database round trip.

    A revoked key stops working within `ttl_s` seconds.
    """

    ledger: Ledger
    ttl_s: float = 10.0
    _entries: dict[str, tuple[ApiKey | None, float]] = field(default_factory=dict)

    async def lookup(self, secret: str) -> ApiKey | None:
        digest = hash_secret(secret)
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        key = await run_sync(self.ledger.find_key, secret)
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[digest] = (key, now + (self.ttl_s if key else 1.0))
        return key

    def clear(self) -> None:
        """Forget every key: an account changed (a key revoked here or by another process)."""
        self._entries = {}


@dataclass(frozen=True, slots=True)
class ModelSeries:
    """One model's per-request series (duration, time to first token, time per output token),
    looked up once: `labels()` costs more than a dict hit on every request."""

    duration: HistogramCell
    first_token: HistogramCell
    per_token: HistogramCell


@dataclass
class Gateway:
    catalog: Catalog
    ledger: Ledger
    writer: GroupCommitWriter
    engines: dict[str, Engine]
    admin_token: str
    keys: KeyCache
    lease: InstanceLease | None = None
    accounts: Accounts | None = None
    # Customers and key limits as of the accounts' last version; replaced whole, never edited.
    directory: Directory = field(default_factory=lambda: Directory(-1))
    limiter: Limiter = field(default_factory=RateLimiter)
    metrics: Metrics = field(default_factory=Metrics)
    _model_series: dict[str, ModelSeries] = field(default_factory=dict)

    @property
    def instance(self) -> str:
        return self.lease.instance if self.lease is not None else "gw_unleased"

    async def follow_accounts(self) -> bool:
        """Load the accounts again if their version moved (here or in another process); True if
        it did. Keys are looked up afresh after a change, so a revoked key stops at once."""
        if self.accounts is None:
            return False
        if await run_sync(self.accounts.version) == self.directory.version:
            return False
        self.directory = await run_sync(self.accounts.load)
        self.keys.clear()
        return True

    def refuse(self, refusal: Refusal) -> Refused:
        """The exception that refuses a request, counted by kind: every refusal of the serving
        core is raised through here (`raise gateway.refuse(...)`), so revshare_refusals_total
        counts each once."""
        self.metrics.refusals.labels(refusal.kind.value).inc()
        return Refused(refusal)

    def model_series(self, model: str) -> ModelSeries:
        series = self._model_series.get(model)
        if series is None:
            m = self.metrics
            series = self._model_series[model] = ModelSeries(
                m.request_duration.labels(model), m.time_to_first_token.labels(model),
                m.time_per_output_token.labels(model))
        return series


ENGINE_ERROR_KINDS = ("rejected", "unavailable", "error")


def _zero_series(metrics: Metrics, engines: dict[str, Engine]) -> None:
    """Create the counters an alert divides by or compares at zero, so that a rule such as
    `rate(revshare_refusals_total[5m]) > 0` sees its series before the first refusal."""
    for kind in RefusalKind:
        metrics.refusals.labels(kind.value)
    for engine in engines:
        for error_kind in ENGINE_ERROR_KINDS:
            metrics.engine_errors.labels(engine, error_kind)


@asynccontextmanager
async def open_gateway(catalog: Catalog, ledger: Ledger, engines: dict[str, Engine] | None,
                       admin_token: str, metrics: Metrics | None = None) -> AsyncIterator[Gateway]:
    """Start what a gateway holds, in order, and stop it in reverse: the ledger (migrated), this
    process's lease on its intents (resolving those a crashed gateway left), the group-commit
    writer, the engines."""
    metrics = metrics if metrics is not None else Metrics()
    ledger.migrate()
    lease = InstanceLease(ledger)
    lease.hold()
    resolve_orphans(ledger, lease)
    if catalog.server.fail_open:
        log.warning("ledger: fail-open (server.fail_open = true): requests are served while the ledger "
                    "cannot be written; their records are kept in memory until it can")
    else:
        log.info("ledger: fail-closed: requests get 503 while the ledger cannot be written")
    writer = GroupCommitWriter(ledger, batch_max=catalog.server.commit_batch_max, wait_ms=catalog.server.commit_wait_ms,
                               metrics=metrics, idempotency_retention_s=catalog.server.idempotency_retention_s,
                               autocheckpoint=False)  # the chore below checkpoints SQLite's WAL
    accounts = Accounts(ledger)
    accounts.import_catalog(catalog, Actor(catalog.source[-200:] or "catalog", "catalog"))
    directory = accounts.load()
    writer.start()
    limiter = _limiter(catalog)
    running = engines if engines is not None else build_engines(catalog, metrics)
    _zero_series(metrics, running)
    try:
        for engine in running.values():
            await engine.start()
        log.info("ledger: %s", ledger.safe_url)
        await run_sync(ensure_quietly, ledger)
        gateway = Gateway(catalog, ledger, writer, running, admin_token, KeyCache(ledger), lease, accounts,
                          directory, limiter=limiter, metrics=metrics)
        chores = [
            asyncio.create_task(_every(catalog.server.accounts_refresh_s, gateway.follow_accounts,
                                       "accounts: cannot read the accounts; serving the last ones read"),
                                name="revshare-accounts"),
            asyncio.create_task(_every(catalog.server.rollup_interval_s, lambda: _fold_all(ledger),
                                       "rollups: cannot fold usage; will retry"), name="revshare-rollups"),
            # PostgreSQL: this month's and the next months' partitions exist before their first record.
            asyncio.create_task(_every(_PARTITIONS_EVERY_S, lambda: run_sync(ensure_partitions, ledger),
                                       "ledger: cannot create the coming months' partitions; will retry"),
                                name="revshare-partitions")]
        if ledger.is_sqlite:  # off the writer's commits, which never checkpoint themselves
            chores.append(asyncio.create_task(_every(_WAL_CHECKPOINT_EVERY_S, lambda: run_sync(ledger.checkpoint_wal),
                                                     "ledger: cannot checkpoint the WAL; will retry"),
                                              name="revshare-wal-checkpoint"))
        try:
            yield gateway
        finally:
            for chore in chores:
                chore.cancel()
            for chore in chores:
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
    finally:
        for engine in running.values():
            await engine.close()
        await limiter.close()
        writer.close()
        metrics.fold()  # multiprocess mode: the last second's counts into this process's file
        lease.release()
        ledger.close()


def _limiter(catalog: Catalog) -> Limiter:
    """Rate limits in Redis when one is configured (shared by every replica), else in this process."""
    url = redis_url(catalog.rate_limits, dict(os.environ))
    if url is None:
        log.info("rate limits: held in this process (no rate_limits.redis_url): each replica counts its own")
        return RateLimiter()
    then = "served without limits" if catalog.rate_limits.fail_open else "refused with 429"
    log.info("rate limits: shared through Redis; while it is unreachable requests are %s", then)
    return RedisLimiter(url, catalog.rate_limits)


_PARTITIONS_EVERY_S = 3600.0  # how often the gateway creates the coming months' partitions
_WAL_CHECKPOINT_EVERY_S = 0.5  # SQLite: how often the WAL's pages are copied into the database


async def _every(interval_s: float, chore: Callable[[], Awaitable[object]], failure: str) -> None:
    """Run `chore` every `interval_s`, off the request path. A failure (the database away: the
    ledger's own health check reports it) is logged once, with `failure`, until a run succeeds."""
    failing = False
    while True:
        await asyncio.sleep(interval_s)
        try:
            await chore()
        except Exception as exc:
            if not failing:
                log.warning("%s (%s)", failure, type(exc).__name__)
            failing = True
        else:
            failing = False


async def _fold_all(ledger: Ledger) -> None:
    """Fold every record appended since the last fold into the usage rollups, batch after batch."""
    while await run_sync(fold_new_records, ledger) == FOLD_BATCH:
        pass
