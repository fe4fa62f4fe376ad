"""From an admitted request and its final token counts to one rated, immutable UsageRecord."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from revshare.config import ModelConfig, Price
from revshare.engines.base import Endpoint, UsageMeter
from revshare.metering.rating import rate
from revshare.records.record import Outcome, UsageRecord

__all__ = ["Admitted", "new_record_id"]


def new_record_id() -> str:
    """`rec_` + 12 hex digits of milliseconds + 16 random hex digits: unique and time-ordered."""
    return f"rec_{time.time_ns() // 1_000_000:012x}{_random_hex16()}"


# The operating system's randomness, drawn for 256 ids at a time: one system call a request was
# 3-4% of the gateway's CPU on the hot path (docs/BENCHMARKS.md). A forked child starts with none.
_IDS_A_DRAW = 256
_pool: list[str] = []
_pool_lock = threading.Lock()


def _random_hex16() -> str:
    with _pool_lock:
        if not _pool:
            drawn = os.urandom(8 * _IDS_A_DRAW).hex()
            _pool.extend(drawn[i:i + 16] for i in range(0, len(drawn), 16))
        return _pool.pop()


os.register_at_fork(after_in_child=_pool.clear)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request let in: who asked, for what, at which price. Fixed when the request starts."""

    customer: str
    key_id: str
    model: ModelConfig
    licensors: tuple[str, ...]
    price: Price
    endpoint: Endpoint
    stream: bool
    idempotency_key: str | None = None
    end_user: str = ""
    record_id: str = field(default_factory=new_record_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def finish(self, meter: UsageMeter, outcome: Outcome, error_code: str = "") -> UsageRecord:
        """The record of this request, charged only if the outcome is chargeable."""
        if outcome.charged:
            rated = rate(self.price, meter.prompt_tokens, meter.completion_tokens)
            amount, version = rated.amount, rated.price_version
        else:
            amount, version = Decimal("0E-12"), self.price.version
        return UsageRecord(
            id=self.record_id,
            idempotency_key=self.idempotency_key,
            started_at=self.started_at,
            ended_at=datetime.now(UTC),
            customer=self.customer,
            key_id=self.key_id,
            model=self.model.id,
            licensors=self.licensors,
            engine=meter.engine or self.model.engine,
            endpoint=self.endpoint,
            stream=self.stream,
            prompt_tokens=meter.prompt_tokens,
            completion_tokens=meter.completion_tokens,
            cached_tokens=meter.cached_tokens,
            estimated=meter.estimated,
            outcome=outcome,
            price_version=version,
            amount=amount,
            currency=self.price.currency,
            error_code=error_code,
            end_user=self.end_user,
        )
