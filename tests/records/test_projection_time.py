"""The leaf's times are `revshare.instants.format_instant`'s text: the projection inlines it for speed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from revshare.instants import format_instant
from revshare.records.projection import _time

zones = st.just(UTC) | st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
low, high = datetime(1990, 1, 2), datetime(2200, 1, 1)
instants = st.datetimes(low, high, timezones=zones) | st.datetimes(low, high)  # naive means UTC


@given(instants)
def test_the_projection_formats_an_instant_as_format_instant_does(value: datetime) -> None:
    assert _time(value) == format_instant(value)
