"""A usage record for ledger tests: deterministic, with every field set."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from revshare.records.record import Outcome, UsageRecord


def record(n: int, customer: str = "acme", amount: str = "0.000001234567") -> UsageRecord:
    now = datetime(2026, 11, 29, 12, 0, n % 60, 123456, tzinfo=UTC)
    return UsageRecord(
        id=f"rec_test{n:08d}", started_at=now, ended_at=now, customer=customer, key_id="key_1",
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=Outcome.OK,
        prompt_tokens=12 + n, completion_tokens=30, amount=Decimal(amount), currency="USD",
        price_version="gemma-3-270m@2026-01-01T00:00:00Z", licensors=("google", "meta"),
        stream=n % 2 == 0, idempotency_key=f"idem-{n}" if n % 3 == 0 else None,
    )
