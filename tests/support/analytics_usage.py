"""Usage records for the analytics store's tests (gemma-3-270m of the demo catalog, revshare.toml)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from revshare.records.record import Outcome, UsageRecord

PRICE = "gemma-3-270m@2026-01-01T00:00:00Z"
_ids = itertools.count(1)


def usage(started: datetime, customer: str = "acme", prompt: int = 1000, completion: int = 100,
          outcome: Outcome = Outcome.OK, key: str = "key_1", end_user: str = "") -> UsageRecord:
    """A gemma-3-270m record of the demo catalog (revshare.toml)."""
    amount = (prompt * Decimal("0.10") + completion * Decimal("0.40")).scaleb(-6) if outcome.charged else Decimal(0)
    return UsageRecord(
        id=f"rec_an{next(_ids):010d}", started_at=started, ended_at=started, customer=customer, key_id=key,
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=outcome, prompt_tokens=prompt,
        completion_tokens=completion, amount=amount, currency="USD", price_version=PRICE if outcome.charged else "",
        end_user=end_user)


def month_of_usage(n: int, *, year: int = 2026, month: int = 1) -> list[UsageRecord]:
    """`n` records spread over a month, some not charged, two customers, a few end users."""
    start = datetime(year, month, 1, tzinfo=UTC)
    return [usage(start + timedelta(seconds=(i * 7919) % (28 * 86400), microseconds=i % 1000),
                  customer=("acme", "demo")[i % 2], prompt=(i * 31) % 5000, completion=(i * 17) % 900,
                  outcome=Outcome.ENGINE_ERROR if i % 13 == 0 else Outcome.OK, key=f"key_{i % 3}",
                  end_user=f"u{i % 5}" if i % 4 else "") for i in range(n)]
