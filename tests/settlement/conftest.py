from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _trap_floats() -> Iterator[None]:
    """Any float mixed into Decimal arithmetic (or compared with one) raises FloatOperation."""
    ctx = decimal.getcontext()
    before = ctx.traps[decimal.FloatOperation]
    ctx.traps[decimal.FloatOperation] = True
    yield
    ctx.traps[decimal.FloatOperation] = before
