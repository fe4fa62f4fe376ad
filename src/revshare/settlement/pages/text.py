"""The display text of a document's values: money, counts, rates, dates and periods. Pure text, no HTML.

Money arrives as strings and is formatted with `Decimal` only: padded to the currency's minor
unit (ISO 4217, `money.minor_unit`), never rounded (lines are already rounded once), grouped by
thousands. The only arithmetic on a document's figures is exact: a negation, a check sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from revshare.instants import parse_instant
from revshare.money import D, minor_unit
from revshare.settlement.rounding import padded

__all__ = [
    "KIND_WORDS",
    "MODEL_KIND_WORDS",
    "count_text",
    "cutoff_span_text",
    "date_of",
    "instant_text",
    "money_sum",
    "money_text",
    "negated",
    "next_period_text",
    "percent_text",
    "period_text",
    "span_text",
]

ZERO = Decimal(0)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
KIND_WORDS = {"late_usage": "Late usage", "credit": "Credit", "refund": "Refund", "discount": "Discount"}
# What a line bills (`model_kind`, `settlement.kinds`): the heading of its group on a page.
MODEL_KIND_WORDS = {"chat": "Chat, completions and responses", "embedding": "Embeddings"}


# -- numbers -------------------------------------------------------------------------------------

def money_text(text: str, currency: str, *, group: bool = True) -> str:
    """A money string of the document at the currency's minor unit: "0" -> "0.00", "1234.5" -> "1,234.50".

    Never rounds: an amount with more decimals than the minor unit (a unit price) keeps them.
    """
    amount = padded(D(text), minor_unit(currency))
    return format(amount, ",f" if group else "f")


def count_text(n: int) -> str:
    """An integer count with thousands separators."""
    return f"{n:,}"


def percent_text(text: str) -> str:
    """A rate string as a percentage without trailing zeros: "0.10" -> "10%", "0.075" -> "7.5%"."""
    value = format(D(text).scaleb(2), "f")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return f"{value}%"


def negated(text: str) -> str:
    """The negation of a money string, exactly."""
    return format(-D(text), "f")


def money_sum(values: Iterable[str]) -> str:
    """Exact sum of money strings (a display check row), as a money string."""
    return format(sum((D(v) for v in values), ZERO), "f")


# -- dates and periods (UTC) ---------------------------------------------------------------------

def _midnight(t: datetime) -> bool:
    return (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0)


def _day(t: datetime) -> str:
    return f"{t.day} {_MONTHS[t.month - 1][:3]} {t.year}"


def span_text(start_text: str, end_text: str) -> str:
    """[start, end) in words: inclusive dates when both are midnights, else times in UTC."""
    start, end = parse_instant(start_text), parse_instant(end_text)
    if _midnight(start) and _midnight(end):
        last = end - timedelta(days=1)
        return _day(start) if last == start else f"{_day(start)} – {_day(last)}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M} UTC (end excluded)"


def instant_text(text: str) -> str:
    """An instant to the second in words: "2026-01-18T10:31:07.5Z" -> "18 Jan 2026 10:31:07 UTC"."""
    t = parse_instant(text)
    return f"{_day(t)} {t:%H:%M:%S} UTC"


def cutoff_span_text(start_text: str, cutoff_text: str) -> str:
    """A period closed early, from its start up to its cut-off: "1 Jan 2026 – 18 Jan 2026 10:31:07 UTC"."""
    return f"{_day(parse_instant(start_text))} – {instant_text(cutoff_text)}"


def date_of(text: str) -> str | None:
    """An ISO timestamp's UTC date, "2026-01-31"; None when the text is not an instant."""
    try:
        return parse_instant(text).strftime("%Y-%m-%d")
    except ValueError:
        return None


def period_text(label: str) -> str:
    """A period label in words: "2026-01" -> "January 2026"; anything else unchanged."""
    year, _, month = label.partition("-")
    if month.isdigit() and 1 <= int(month) <= 12:
        return f"{_MONTHS[int(month) - 1]} {year}"
    return label


def next_period_text(label: str) -> str:
    """The period after a label, in words: "2026-12" -> "January 2027"; "the next period" if not a label."""
    year, _, month = label.partition("-")
    if year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
        y, m = int(year) + int(month) // 12, int(month) % 12 + 1
        return f"{_MONTHS[m - 1]} {y}"
    return "the next period"
