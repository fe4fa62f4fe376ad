"""The catalog's scale-out sections: the engines a routed model names, and `[rate_limits]`.

Kept beside `sections.py` (which imports `EngineChoice` for `ModelConfig.engines`), each checking
only its own fields, strict and frozen like every section.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ROUTE_PREFIX", "EngineChoice", "RateLimitsConfig"]

# A model with `engines = [...]` is served by the router `route:<model id>` (its `engine`).
ROUTE_PREFIX = "route:"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineChoice(_Strict):
    """One of the engines a model is routed across, and its share of the traffic (its weight)."""

    id: str
    weight: int = Field(default=1, ge=1, le=1000, strict=True)


class RateLimitsConfig(_Strict):
    """Where rate and concurrency limits are kept (docs/CONFIG.md, `[rate_limits]`).

    No `redis_url` (and no $REVSHARE_REDIS_URL): in each gateway process, so N replicas give a
    customer N times its limits. With one, every replica shares them through that Redis. While
    Redis cannot be reached a request is refused with 429 (`fail_open = false`, the default) or
    served without limits (`fail_open = true`); either way it is logged. Budgets are in the ledger.
    """

    redis_url: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://")
    redis_url_env: str = "REVSHARE_REDIS_URL"
    fail_open: bool = False
    # How long one limit check may wait for Redis before it counts as unreachable.
    timeout_s: float = Field(default=0.5, gt=0, le=30)
    # Redis keys are `<key_prefix>:rl:...`; give each deployment sharing a Redis its own.
    key_prefix: str = Field(default="revshare", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    # A replica killed mid-request leaves its concurrency slot taken until this many seconds pass.
    concurrency_ttl_s: float = Field(default=900.0, ge=10, le=86_400)
