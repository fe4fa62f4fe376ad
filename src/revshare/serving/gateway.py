"""What a running gateway holds: the catalog, the ledger and its writer, engines, key cache,
rate limits and its lease on its own intents."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from revshare.config import Catalog
from revshare.engines.base import Engine
from revshare.ledger.recovery import InstanceLease
from revshare.ledger.store import ApiKey, Ledger, hash_secret
from revshare.ledger.writer import GroupCommitWriter
from revshare.metering.limits import RateLimiter

__all__ = ["Gateway", "KeyCache"]


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
        key = await run_in_threadpool(self.ledger.find_key, secret)
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[digest] = (key, now + (self.ttl_s if key else 1.0))
        return key


@dataclass
class Gateway:
    catalog: Catalog
    ledger: Ledger
    writer: GroupCommitWriter
    engines: dict[str, Engine]
    admin_token: str
    keys: KeyCache
    lease: InstanceLease | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)

    @property
    def instance(self) -> str:
        return self.lease.instance if self.lease is not None else "gw_unleased"
