"""The catalog's [analytics] table: the columnar copy of the usage records beside the ledger."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnalyticsConfig"]


class AnalyticsConfig(BaseModel):
    """Where the analytics store lives and how it is fed (docs/SETTLEMENT.md, "Analytics store")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # false: `revshare settle` always reads the ledger and `revshare analytics feed` refuses.
    enabled: bool = True
    # The DuckDB file; default `<server.data_dir>/analytics.duckdb`.
    path: str | None = Field(default=None, min_length=1)
    # Records copied per transaction, and how often `revshare analytics feed --follow` looks for more.
    batch: int = Field(default=100_000, ge=1, le=10_000_000, strict=True)
    interval_s: float = Field(default=2.0, gt=0, le=3600)
    # How long `revshare settle` waits for a feeder's round to end (it holds the file) before reading the ledger.
    busy_wait_s: float = Field(default=10.0, ge=0, le=600)
