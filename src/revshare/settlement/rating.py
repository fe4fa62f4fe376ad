"""Rating aggregates into cells: the smallest rounded money unit every other total is built from.

An invoice line is one (customer, model, direction, price version, late) group; its amount is
the exact sum (token sum x price / 1e6) rounded once, half-even, to the currency's minor unit.
That rounded amount is then split by largest remainder over the line's (key, segment) parts:
those parts are the cells. Statement lines and exclusions are sums of cells, so a licensor's
gross for a model equals the sum of the customers' invoice lines for it, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from revshare.settlement.aggregate import UsageAggregate
from revshare.settlement.errors import SettlementError
from revshare.settlement.rounding import allocate, places_of, round_half_even

__all__ = ["DIRECTIONS", "Cell", "Direction", "PriceLike", "rate_aggregates"]

Direction = Literal["input", "output"]
DIRECTIONS: tuple[Direction, Direction] = ("input", "output")


class PriceLike(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def input_per_million(self) -> Decimal: ...
    @property
    def output_per_million(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def version(self) -> str: ...


@dataclass(frozen=True, slots=True, order=True)
class Cell:
    """Rated usage of one (customer, key, model, direction, price version, segment, late).

    Attributes:
      tokens: prompt tokens for "input", completion tokens for "output".
      unit_price: the price version's amount per 1M tokens of this direction.
      exact: tokens x unit_price / 1e6, exact (12 places at most).
      amount: this cell's part of its invoice line's rounded amount.
    """

    customer: str
    model: str
    direction: Direction
    price_version: str
    late: bool
    key_id: str
    segment: int
    currency: str
    requests: int
    tokens: int
    unit_price: Decimal
    exact: Decimal
    amount: Decimal

    @property
    def line_key(self) -> tuple[str, str, str, str, str, bool]:
        return (self.customer, self.currency, self.model, self.direction, self.price_version, self.late)


def rate_aggregates(
    aggregates: Iterable[UsageAggregate], prices: Sequence[PriceLike] | Mapping[str, PriceLike]
) -> tuple[tuple[Cell, ...], list[SettlementError]]:
    """Cells for the aggregates, in canonical order; errors for unknown price versions."""
    by_version = prices if isinstance(prices, Mapping) else {p.version: p for p in prices}
    errors: list[SettlementError] = []
    groups: dict[tuple[str, str, str, Direction, str, bool], list[tuple[UsageAggregate, int, Decimal]]] = {}
    unknown: set[str] = set()
    for agg in sorted(aggregates):
        price = by_version.get(agg.price_version)
        if price is None or price.model != agg.model:
            if agg.price_version not in unknown:
                unknown.add(agg.price_version)
                errors.append(
                    SettlementError(
                        "unknown-price-version",
                        f"usage of model {agg.model!r} is rated by price version "
                        f"{agg.price_version!r}, which the catalog does not have; it is left out",
                    )
                )
            continue
        for direction in DIRECTIONS:
            tokens = agg.prompt_tokens if direction == "input" else agg.completion_tokens
            if tokens == 0:
                continue  # no line for a direction with no tokens
            unit = price.input_per_million if direction == "input" else price.output_per_million
            key = (agg.customer, price.currency, agg.model, direction, agg.price_version, agg.late)
            groups.setdefault(key, []).append((agg, tokens, unit))
    cells: list[Cell] = []
    for (customer, currency, model, direction, version, late), parts in groups.items():
        exacts = [(Decimal(tokens) * unit).scaleb(-6) for _, tokens, unit in parts]
        line_amount = round_half_even(sum(exacts, Decimal(0)), places_of(currency))
        amounts = allocate(line_amount, exacts, places_of(currency)) if any(exacts) else [line_amount] * len(parts)
        for (agg, tokens, unit), exact, amount in zip(parts, exacts, amounts, strict=True):
            cells.append(
                Cell(customer, model, direction, version, late, agg.key_id, agg.segment, currency,
                     agg.requests, tokens, unit, exact, amount)
            )
    return tuple(sorted(cells)), errors
