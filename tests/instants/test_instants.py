"""Instants: every parse gives a UTC-aware datetime; every format is UTC text with a Z."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revshare.instants import as_utc, coerce_instant, format_instant, parse_instant, sql_text

NOON = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("text", [
    "2026-11-01T12:00:00Z", "2026-11-01T12:00:00+00:00", "2026-11-01T13:00:00+01:00", "2026-11-01T12:00:00",
    "2026-11-01 12:00:00", "2026-11-01T07:00:00-05:00",
])
def test_parse_gives_the_same_utc_instant(text: str) -> None:
    parsed = parse_instant(text)
    assert parsed == NOON
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-11-01T25:00Z"])
def test_parse_names_the_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an ISO 8601 date or datetime: " + repr(text).replace("[", r"\[")):
        parse_instant(text)


def test_naive_means_utc_and_aware_is_converted() -> None:
    assert as_utc(datetime(2026, 11, 1, 12)) == NOON
    assert as_utc(datetime(2026, 11, 1, 14, tzinfo=timezone(timedelta(hours=2)))).hour == 12


def test_coerce_takes_catalog_values() -> None:
    assert coerce_instant(date(2026, 11, 1)) == datetime(2026, 11, 1, tzinfo=UTC)
    assert coerce_instant("2026-11-01T12:00:00Z") == NOON
    assert coerce_instant(datetime(2026, 11, 1, 12)) == NOON
    with pytest.raises(ValueError, match="must be a date or datetime"):
        coerce_instant(1.5)


def test_format_is_pinned() -> None:
    assert format_instant(NOON) == "2026-11-01T12:00:00Z"
    assert format_instant(NOON.replace(microsecond=500000)) == "2026-11-01T12:00:00.500000Z"
    assert format_instant(NOON.replace(microsecond=500000), "seconds") == "2026-11-01T12:00:00Z"
    assert format_instant(datetime(2026, 11, 1, 13, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-01T12:00:00Z"
    assert sql_text(NOON) == "2026-11-01 12:00:00.000000"


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)),
                                               timezone(timedelta(hours=5, minutes=30))])))
def test_sql_text_is_the_instant_in_utc_whatever_its_zone(value: datetime) -> None:
    expected = value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    assert sql_text(value) == expected
    assert sql_text(value.astimezone(UTC).replace(tzinfo=None)) == expected  # naive means UTC


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5))])))
def test_format_then_parse_is_the_same_instant(value: datetime) -> None:
    assert parse_instant(format_instant(value)) == value
