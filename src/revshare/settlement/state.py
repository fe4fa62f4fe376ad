"""What a close carries to the next one, per contract: statement chain and recoupment balance.

Persist `SettlementState.to_json()` after each close (and nothing else: every other input is
the catalog, the ledger and the adjustments). Feed it back as `prior` to the next close.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from revshare.money import D, money_str
from revshare.settlement.statement import Statement

__all__ = ["ContractState", "SettlementState", "next_state"]


@dataclass(frozen=True, slots=True, order=True)
class ContractState:
    """Attributes:
      contract: the contract id.
      period: the last closed period ("YYYY-MM").
      number: that period's statement number; last_hash: its `statement_hash`.
      recoupment_balance: true-ups of a recoupable guarantee not yet won back.
    """

    contract: str
    period: str
    number: int
    last_hash: str
    recoupment_balance: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"contract": self.contract, "period": self.period, "number": self.number,
                "last_hash": self.last_hash, "recoupment_balance": money_str(self.recoupment_balance)}


@dataclass(frozen=True, slots=True)
class SettlementState:
    """The carried state of every contract, sorted by contract id."""

    contracts: tuple[ContractState, ...] = ()

    def get(self, contract: str) -> ContractState | None:
        return next((c for c in self.contracts if c.contract == contract), None)

    def to_json(self) -> dict[str, Any]:
        return {"type": "revshare.settlement-state/v1", "contracts": [c.to_json() for c in self.contracts]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SettlementState:
        return cls(tuple(sorted(
            ContractState(c["contract"], c["period"], int(c["number"]), c["last_hash"], D(c["recoupment_balance"]))
            for c in data.get("contracts", ())
        )))


def next_state(prior: SettlementState, statements: Iterable[Statement]) -> SettlementState:
    """The state after `statements` (hash them in their final form, `log` included)."""
    from revshare.settlement.render import statement_hash  # render imports state's neighbours

    by_id = {c.contract: c for c in prior.contracts}
    for s in statements:
        entry = ContractState(s.contract, s.period, s.number, statement_hash(s.to_json()),
                              s.totals.recoupment_after)
        by_id[s.contract] = entry
    return SettlementState(tuple(sorted(by_id.values())))
