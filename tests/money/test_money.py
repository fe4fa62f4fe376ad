"""Money: no floats, exact per-request precision, one rounding per line, exact splits."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revshare.money import D, MoneyError, minor_unit, money_str, round_line, split_largest_remainder


@pytest.mark.parametrize("bad", [0.1, float("nan"), "nan", "inf", "1e", True, None, [1]])
def test_D_refuses_what_is_not_money(bad: object) -> None:
    with pytest.raises(MoneyError):
        D(bad)  # type: ignore[arg-type]


def test_D_accepts_text_ints_and_decimals() -> None:
    assert D(" 0.10 ") == Decimal("0.10") and D(3) == Decimal(3) and D(Decimal("2.5")) == Decimal("2.5")


def test_float_operations_trap_in_tests() -> None:
    with pytest.raises(decimal.FloatOperation):
        Decimal(0.5)  # noqa: RUF032 - the float is the point


def test_round_line_is_half_even_to_the_minor_unit() -> None:
    assert round_line(Decimal("0.125"), "USD") == Decimal("0.12")
    assert round_line(Decimal("0.135"), "USD") == Decimal("0.14")
    assert round_line(Decimal("12.5"), "JPY") == Decimal("12")
    assert round_line(Decimal("0.0005"), "KWD") == Decimal("0.000")
    assert minor_unit("EUR") == 2 and money_str(Decimal("1E-12")) == "0.000000000001"


@given(
    st.integers(min_value=-10**9, max_value=10**9),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
)
def test_largest_remainder_parts_sum_to_the_whole(cents: int, weights: list[int]) -> None:
    total = Decimal(cents).scaleb(-2)
    parts = split_largest_remainder(total, [Decimal(w) for w in weights], 2)
    assert sum(parts, Decimal(0)) == total
    assert all(p == p.quantize(Decimal("0.01")) for p in parts)
    weight_sum = sum(weights)
    if weight_sum:
        for part, w in zip(parts, weights, strict=True):
            assert abs(part - total * w / weight_sum) < Decimal("0.01")


def test_split_example() -> None:
    assert split_largest_remainder(Decimal("1.00"), [Decimal(1)] * 3, 2) == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]
