"""Exact rounding and splitting, in integers, so that no context precision can leak in.

`revshare.money.split_largest_remainder` divides in Decimal (28 digits) and expects
non-negative weights. Settlement splits refunds (negative) and tier earnings by rational
weights, so it works on `Fraction`s and integer minor units instead: the result is the same
largest-remainder split, exact for any sign and size.

`padded` and `amount_text` write an amount into a document: at least the currency's minor unit
of decimals ("0" -> "0.00"), never rounded (a unit price of 0.0375 keeps its four), no "-0.00".
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from revshare.money import minor_unit

__all__ = ["allocate", "amount_text", "padded", "places_of", "round_half_even", "to_fraction"]


def places_of(currency: str) -> int:
    return minor_unit(currency)


def padded(amount: Decimal, places: int) -> Decimal:
    """`amount` at exactly `places` decimals when that is exact ("5" and "5.000" -> "5.00"), else with
    its further decimals and no trailing zero ("0.037500" -> "0.0375"): never rounded; -0 is 0."""
    if amount == 0:
        amount = abs(amount)
    grid = amount.quantize(Decimal(1).scaleb(-places))
    return grid if grid == amount else amount.normalize()


def amount_text(amount: Decimal, places: int) -> str:
    """An amount as a document writes it: `padded` to `places`, fixed-point, no exponent, no grouping."""
    return format(padded(amount, places), "f")


def to_fraction(value: Decimal | int | Fraction) -> Fraction:
    if isinstance(value, Fraction):
        return value
    numerator, denominator = value.as_integer_ratio()
    return Fraction(numerator, denominator)


def _units(value: Fraction, places: int) -> Fraction:
    scale: int = 10**places
    return value * scale


def _from_units(units: int, places: int) -> Decimal:
    return Decimal(units).scaleb(-places)


def round_half_even(value: Decimal | Fraction, places: int) -> Decimal:
    """Round an exact value once, half to even, to `places` decimals."""
    scaled = _units(to_fraction(value), places)
    return _from_units(round(scaled), places)  # Fraction.__round__ is exact and half-even


def allocate(total: Decimal, weights: Sequence[Decimal | Fraction], places: int) -> list[Decimal]:
    """Split `total` (on the `places` grid) in proportion to `weights`, largest remainder.

    Every part is first rounded toward minus infinity; the units left over (always fewer than
    the number of parts) go one each to the parts with the largest remainders, ties to the
    earliest. The parts sum to `total` exactly. Weights may have any sign but must not sum to
    zero unless `total` is zero (then every part is zero).
    """
    t = to_fraction(total)
    t_units = _units(t, places)
    if t_units.denominator != 1:
        raise ValueError(f"total {total} has more than {places} decimal places")
    if not weights:
        if t:
            raise ValueError("cannot split a non-zero total over no parts")
        return []
    ws = [to_fraction(w) for w in weights]
    w_sum = sum(ws, Fraction(0))
    if w_sum == 0:
        if t:
            raise ValueError(f"cannot split {total} by weights that sum to zero")
        return [_from_units(0, places) for _ in ws]
    exact = [t_units.numerator * w / w_sum for w in ws]
    floors = [e.numerator // e.denominator for e in exact]
    left = t_units.numerator - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [_from_units(f, places) for f in floors]
