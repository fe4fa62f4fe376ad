"""Instants: the one place that parses and formats points in time. Pure.

Every instant revshare holds is UTC-aware. A naive datetime or text without an offset means UTC
(the ledger stores UTC; SQLite hands it back naive). Text is ISO 8601 with a `Z` suffix, which is
what the log's leaves, statements and invoices carry, so changing `format_instant` changes
signed bytes: its output is pinned by tests.

    parse_instant("2026-11-01T00:00:00Z")  -> datetime(2026, 11, 1, tzinfo=UTC)
    format_instant(datetime(2026, 11, 1, 12, tzinfo=UTC))  -> "2026-11-01T12:00:00Z"
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

__all__ = ["as_utc", "coerce_instant", "format_instant", "parse_instant", "sql_text", "utc_now"]

TimeSpec = Literal["auto", "seconds", "milliseconds", "microseconds"]


def utc_now() -> datetime:
    """Now, UTC-aware."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def parse_instant(text: str) -> datetime:
    """ISO 8601 text (`Z`, an offset, or none meaning UTC) as a UTC-aware datetime.

    Raises ValueError naming the text when it is not an instant.
    """
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"not an ISO 8601 date or datetime: {text!r}") from None
    return as_utc(parsed)


def coerce_instant(value: object) -> datetime:
    """A catalog value (TOML datetime, date or ISO text) as a UTC-aware instant; a date is its
    midnight UTC. Raises ValueError otherwise."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_instant(value)
    raise ValueError("must be a date or datetime")


def format_instant(value: datetime, timespec: TimeSpec = "auto") -> str:
    """UTC ISO 8601 with a `Z` suffix: `2026-11-29T12:00:01.5Z` keeps its fraction (`auto`)."""
    return as_utc(value).isoformat(timespec=timespec).replace("+00:00", "Z")


def sql_text(value: datetime) -> str:
    """How SQLite stores an instant: naive UTC text with microseconds, as SQLAlchemy writes it."""
    return as_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
