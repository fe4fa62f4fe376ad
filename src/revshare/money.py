"""Money: one Decimal constructor that refuses floats, rounding and exact splits.

Never use floating point for money. Every amount in revshare is built by `D()`, kept at
`REQUEST_PLACES` decimal places per request, and rounded exactly once per statement or
invoice line, to the currency's minor unit, with ROUND_HALF_EVEN.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = [
    "REQUEST_PLACES",
    "REQUEST_QUANTUM",
    "D",
    "MoneyError",
    "catalog_amount",
    "minor_unit",
    "money_str",
    "round_line",
    "split_largest_remainder",
]

REQUEST_PLACES = 12
REQUEST_QUANTUM = Decimal(1).scaleb(-REQUEST_PLACES)

# ISO 4217 minor units for the currencies a host is likely to bill in; anything else is 2.
_MINOR_UNITS: dict[str, int] = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}


class MoneyError(ValueError):
    """An amount that cannot be money: a float, NaN, infinity or unparsable text."""


def D(value: str | int | Decimal) -> Decimal:
    """Build a Decimal from text, an int or a Decimal; refuse floats and non-finite values."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise MoneyError(f"money must be a string, int or Decimal, not {type(value).__name__}")
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise MoneyError(f"not a decimal amount: {value!r}") from exc
    if not result.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return result


def catalog_amount(value: object, what: str = "money") -> Decimal:
    """A non-negative amount written in a catalog; ValueError (for pydantic) on a float or junk.

    Floats are refused even when they look harmless: TOML `0.1` is already inexact.
    """
    if isinstance(value, float):
        raise ValueError(f'write {what} as a string ("0.40"), never a float: floats are inexact')
    try:
        amount = D(value)  # type: ignore[arg-type]
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def minor_unit(currency: str) -> int:
    """Decimal places of the currency's minor unit (ISO 4217), 2 when not listed."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def round_request(amount: Decimal) -> Decimal:
    """Per-request precision: 12 places, half-even."""
    return amount.quantize(REQUEST_QUANTUM, rounding=ROUND_HALF_EVEN)


def round_line(amount: Decimal, currency: str) -> Decimal:
    """Round once, for a statement or invoice line, to the currency's minor unit."""
    return amount.quantize(quantum(minor_unit(currency)), rounding=ROUND_HALF_EVEN)


def money_str(amount: Decimal) -> str:
    """Money as JSON text: fixed-point, never exponent notation."""
    return format(amount, "f")


def split_largest_remainder(
    total: Decimal, weights: Sequence[Decimal], places: int
) -> list[Decimal]:
    """Split `total` (already at `places`) in proportion to `weights`; the parts sum to total.

    Each part is first rounded down to `places`; the units left over go, one each, to the parts
    with the largest remainders (ties to the earliest), so no unit is created or lost.
    """
    q = quantum(places)
    if total != total.quantize(q):
        raise MoneyError(f"total {total} has more than {places} decimal places")
    weight_sum = sum(weights, Decimal(0))
    if not weights:
        raise MoneyError("cannot split over no parts")
    if weight_sum == 0:
        exact = [Decimal(0)] * len(weights)
        exact[0] = total
        return exact
    shares = [total * w / weight_sum for w in weights]
    floors = [s.quantize(q, rounding=ROUND_DOWN) for s in shares]
    left = int((total - sum(floors, Decimal(0))) / q)
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - floors[i]) * (1 if left >= 0 else -1), i))
    step = q if left >= 0 else -q
    for i in order[: abs(left)]:
        floors[i] += step
    return floors
