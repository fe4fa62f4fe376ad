"""`cover`: the rule that tells a reservation that fits from one that only requests in flight block
(429, retry) and from one that spent money alone blocks (402, final)."""

from __future__ import annotations

import pytest

from revshare.metering.reservation import Cover, cover


@pytest.mark.parametrize(("spent", "reserved", "units", "limit", "want"), [
    (0, 0, 100, 100, Cover.FITS),  # exactly the limit fits
    (30, 30, 40, 100, Cover.FITS),
    (0, 80, 40, 100, Cover.IN_FLIGHT),  # nothing spent: only the 80 in flight stand in the way
    (60, 1, 40, 100, Cover.IN_FLIGHT),  # 60 + 40 = 100 would fit with nothing in flight
    (61, 0, 40, 100, Cover.EXCEEDED),  # nothing in flight, and spent alone leaves too little
    (61, 39, 40, 100, Cover.EXCEEDED),  # in flight too, but waiting would not help
    (0, 0, 101, 100, Cover.EXCEEDED),  # more than the whole budget
    (100, 0, 0, 100, Cover.FITS),  # a free request on a spent budget
    (101, 0, 0, 100, Cover.EXCEEDED),  # a limit lowered below what was spent
    (90, 20, 0, 100, Cover.IN_FLIGHT),  # ... below what is spent and reserved
])
def test_cover(spent: int, reserved: int, units: int, limit: int, want: Cover) -> None:
    assert cover(spent, reserved, units, limit) is want


def test_in_flight_means_it_would_fit_with_nothing_in_flight() -> None:
    for spent in range(0, 12):
        for reserved in range(0, 12):
            for units in range(0, 12):
                got = cover(spent, reserved, units, 10)
                assert (got is Cover.FITS) == (spent + reserved + units <= 10)
                assert (got is Cover.EXCEEDED) == (spent + units > 10)
