"""Settlement problems as values: a close returns them alongside its results, never raises them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SettlementError"]


@dataclass(frozen=True, slots=True)
class SettlementError:
    """Something a close could not settle, or settled in a way the operator should know about.

    Attributes:
      code: short machine code, e.g. "unknown-price-version", "credit-unallocated".
      message: what happened and what to do, naming the entries involved.
      level: "error" (the result is incomplete) or "warning" (the result is complete).
    """

    code: str
    message: str
    level: Literal["error", "warning"] = "error"
