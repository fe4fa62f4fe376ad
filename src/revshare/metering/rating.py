"""Rating: tokens × the price version in force when the request started → a Decimal amount."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from revshare.config import Price
from revshare.money import round_request

__all__ = ["Rated", "rate"]

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Rated:
    input_amount: Decimal
    output_amount: Decimal
    price_version: str
    currency: str

    @property
    def amount(self) -> Decimal:
        return self.input_amount + self.output_amount


def rate(price: Price, prompt_tokens: int, completion_tokens: int) -> Rated:
    """Amounts at 12 places. Prices have at most 6 places, so the result is exact."""
    return Rated(
        input_amount=round_request(price.input_per_million * prompt_tokens / _MILLION),
        output_amount=round_request(price.output_per_million * completion_tokens / _MILLION),
        price_version=price.version,
        currency=price.currency,
    )
