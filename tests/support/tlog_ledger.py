"""Shared helpers of the verifiable-log integration tests (imported by module name)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.records.record import Outcome, UsageRecord
from tests.support.catalogs import make_catalog


def catalog(data_dir: Path) -> Catalog:
    catalog: Catalog = make_catalog(data_dir=str(data_dir))
    return catalog


def record(n: int, *, customer: str = "acme", licensors: tuple[str, ...] = ("google",),
           amount: str = "0.000001234567") -> UsageRecord:
    now = datetime(2026, 11, 29, 12, 0, n % 60, 1000 * n % 1_000_000, tzinfo=UTC)
    return UsageRecord(
        id=f"rec_t{n:08d}", started_at=now, ended_at=now, customer=customer, key_id=f"key_{customer}",
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=Outcome.OK,
        prompt_tokens=10 + n, completion_tokens=20, amount=Decimal(amount), currency="USD",
        price_version="gemma-3-270m@2026-01-01T00:00:00Z", licensors=licensors, stream=n % 2 == 0,
    )


def fill(ledger: Ledger, first: int, last: int, **kwargs: object) -> None:
    ledger.append_now([record(n, **kwargs) for n in range(first, last + 1)])  # type: ignore[arg-type]
