"""What the usage pages share: the filters read from the URL (checked, with a message per bad
one), the rollup query, and the same rows three ways: the table, the chart's JSON, the CSV.

    read_filters(request.query_params, operator=True) -> (Filters, errors)
    load(ledger, filters) -> Shown          rows as the table prints them, and `as_of_seq`
    chart_data(filters, shown) -> dict      per period: requests, tokens and amount by group
    usage_csv(filters, shown) -> bytes      the table's rows: header, UTC instants, amounts as text

Dates are whole UTC days, both ends included: `start=2026-11-01&end=2026-11-30` is November.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

from revshare.instants import format_instant
from revshare.ledger.store import Ledger
from revshare.reporting.query import Granularity, GroupBy, Usage, usage

__all__ = ["GROUPS", "MAX_ROWS", "Filters", "Shown", "chart_data", "csv_cell", "load", "read_filters", "usage_csv"]

MOST_DAYS: dict[str, int] = {"hour": 31, "day": 3660}  # as the admin API allows
MAX_ROWS = 5000
GROUPS: dict[str, str] = {"": "nothing (totals)", "model": "model", "customer": "customer", "key": "API key",
                          "outcome": "outcome"}
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# A cell starting with one of these is a formula to a spreadsheet: it is written after a quote, as
# the finance CSVs do (settlement/render.py, which the api room may not import).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class Filters:
    start: date  # the first day shown
    end: date  # the last day shown (included)
    granularity: Granularity
    group_by: GroupBy | None
    customer: str | None  # the operator's filter, or the customer's own name

    @property
    def since(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC) + timedelta(days=1)

    def query(self, *, with_customer: bool) -> str:
        """The URL query that shows these filters (the CSV link's, the page's own)."""
        fields = {"start": self.start.isoformat(), "end": self.end.isoformat(), "granularity": self.granularity,
                  "group_by": self.group_by or ""}
        if with_customer and self.customer:
            fields["customer"] = self.customer
        return urlencode(fields)


def default_filters(customer: str | None = None, granularity: Granularity = "day") -> Filters:
    end = today()
    return Filters(end - timedelta(days=29 if granularity == "day" else 6), end, granularity, None, customer)


def read_filters(params: Mapping[str, str], *, operator: bool,
                 customer: str | None = None) -> tuple[Filters, dict[str, str]]:
    """The filters in a query string, each missing one its default; and a message per bad one
    (then the filters returned are the defaults, for the form to fall back on)."""
    errors: dict[str, str] = {}
    granularity = params.get("granularity") or "day"
    if granularity not in MOST_DAYS:
        errors["granularity"] = "day or hour"
        granularity = "day"
    group_by = params.get("group_by") or ""
    allowed = [g for g in GROUPS if operator or g != "customer"]
    if group_by not in allowed:
        errors["group_by"] = "one of " + ", ".join(g or "nothing" for g in allowed)
    if operator:
        customer = params.get("customer", "").strip() or None
        if customer is not None and (len(customer) > 128 or not customer.isprintable()):
            errors["customer"] = "a customer's name, at most 128 characters"

    def day(name: str) -> date | None:
        text = params.get(name, "").strip()
        if not text:
            return None
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            errors[name] = "a date, YYYY-MM-DD (UTC)"
            return None

    fallback = default_filters(customer, cast(Granularity, granularity))
    end = day("end") or fallback.end
    start = day("start") or (fallback.start if "end" not in params or not params.get("end") else
                             end - (fallback.end - fallback.start))
    if not errors:
        if end < start:
            errors["end"] = "on or after the start"
        elif (end - start).days + 1 > MOST_DAYS[granularity]:
            errors["end"] = f"at most {MOST_DAYS[granularity]} days after the start for {granularity}s"
    if errors:
        return fallback, errors
    return Filters(start, end, cast(Granularity, granularity), cast(GroupBy, group_by) if group_by else None,
                   customer), {}


@dataclass(frozen=True, slots=True)
class Row:
    period_start: datetime
    group: str | None
    currency: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Shown:
    rows: tuple[Row, ...]
    as_of_seq: int
    too_many: bool = False  # more than MAX_ROWS: nothing is shown

    def totals(self) -> dict[str, Any]:
        amounts: dict[str, Decimal] = {}
        for row in self.rows:
            amounts[row.currency] = amounts.get(row.currency, Decimal(0)) + row.amount
        return {"requests": sum(r.requests for r in self.rows),
                "tokens": sum(r.prompt_tokens + r.completion_tokens for r in self.rows),
                "amounts": sorted(amounts.items())}


def load(ledger: Ledger, filters: Filters) -> Shown:
    """The rollups' rows for these filters (summed in SQL, never a scan of the records)."""
    found: Usage = usage(ledger, start=filters.since, end=filters.until, granularity=filters.granularity,
                         group_by=filters.group_by, customer=filters.customer, limit=MAX_ROWS)
    if found.truncated:
        return Shown((), found.folded_seq, too_many=True)
    rows = tuple(Row(r.period_start, r.group, r.currency, r.totals.requests, r.totals.prompt_tokens,
                     r.totals.completion_tokens, r.totals.cached_tokens, r.totals.amount) for r in found.rows)
    return Shown(rows, found.folded_seq)


def period_text(filters: Filters, when: datetime) -> str:
    return when.strftime("%Y-%m-%d" if filters.granularity == "day" else "%Y-%m-%d %H:%M")


def chart_data(filters: Filters, shown: Shown) -> dict[str, Any]:
    """Every period of the range (a period without usage is 0), and per group its requests and
    tokens, and per group and currency its amount (a float: the chart's, never a figure's)."""
    step = timedelta(days=1) if filters.granularity == "day" else timedelta(hours=1)
    periods: list[datetime] = []
    when = filters.since
    while when < filters.until:
        periods.append(when)
        when += step
    index = {p: i for i, p in enumerate(periods)}

    def series() -> list[float]:
        return [0.0] * len(periods)

    requests: dict[str, list[float]] = {}
    tokens: dict[str, list[float]] = {}
    amount: dict[str, list[float]] = {}
    for row in shown.rows:
        i = index.get(row.period_start)
        if i is None:
            continue
        label = row.group if row.group is not None else "all"
        requests.setdefault(label, series())[i] += row.requests
        tokens.setdefault(label, series())[i] += row.prompt_tokens + row.completion_tokens
        money = f"{label} ({row.currency})"
        amount.setdefault(money, series())[i] += float(row.amount)

    def listed(values: dict[str, list[float]]) -> list[dict[str, Any]]:
        return [{"label": label, "values": v} for label, v in sorted(values.items())]

    return {"granularity": filters.granularity, "x": [int(p.timestamp()) for p in periods],
            "requests": listed(requests), "tokens": listed(tokens), "amount": listed(amount)}


def usage_csv(filters: Filters, shown: Shown) -> bytes:
    """The rows the table shows, as CSV: a header; UTC instants; amounts as decimal text; text
    cells that a spreadsheet would take for a formula written after a quote."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    group = [filters.group_by] if filters.group_by else []
    writer.writerow(["period_start_utc", *group, "currency", "requests", "prompt_tokens", "completion_tokens",
                     "cached_tokens", "amount"])
    for row in shown.rows:
        writer.writerow([format_instant(row.period_start, "seconds"),
                         *([csv_cell(row.group or "")] if filters.group_by else []), csv_cell(row.currency),
                         row.requests, row.prompt_tokens, row.completion_tokens, row.cached_tokens,
                         format(row.amount, "f")])
    return buf.getvalue().encode()
