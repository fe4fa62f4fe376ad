"""The overview's figures beyond usage by model: the licensors' share per day (priced by the
settlement over the rollups, `reporting.licensor_share`) and how requests ended, with the error
and refusal rates per day. Both read the rollups only.

    shares_view(ledger, catalog, filters) -> (chart lines, [(licensor, currency, total)], as_of_seq)
    outcomes_view(ledger, filters) -> Outcomes      per outcome: requests and its rate; per day the rates
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from revshare.api.console.usage_view import Filters
from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.reporting.licensor_share import licensor_share
from revshare.reporting.query import usage

__all__ = ["OUTCOME_WORDS", "Outcomes", "outcomes_view", "shares_view"]

# Each outcome as the overview names it; errors and refusals are the rates it charts.
OUTCOME_WORDS = {"ok": "answered", "client_disconnect": "client went away (charged)",
                 "engine_error": "engine error", "rejected": "refused (limits, budget, terms, bad request)"}
ERROR, REFUSAL = "engine_error", "rejected"


def _index(x: list[int]) -> dict[int, int]:
    return {ts: i for i, ts in enumerate(x)}


def shares_view(ledger: Ledger, catalog: Catalog, filters: Filters,
                x: list[int]) -> tuple[list[dict[str, Any]], list[tuple[str, str, Decimal]], int]:
    """Per licensor and currency, its share per day on the chart's days (floats: the chart's only),
    and its exact total over the range."""
    found = licensor_share(ledger, catalog, start=filters.start, end=filters.end)
    where = _index(x)
    lines: dict[str, list[float]] = {}
    for d in found.days:
        i = where.get(int(datetime(d.day.year, d.day.month, d.day.day, tzinfo=UTC).timestamp()))
        if i is not None:
            lines.setdefault(f"{d.licensor} ({d.currency})", [0.0] * len(x))[i] += float(d.share)
    return ([{"label": label, "values": v} for label, v in sorted(lines.items())], found.totals(),
            found.folded_seq)


@dataclass(frozen=True, slots=True)
class Outcomes:
    rows: list[tuple[str, str, int, str]]  # outcome, its words, requests, its rate as a percentage text
    total: int
    chart: list[dict[str, Any]]  # per day: the error and refusal rates, in %
    folded_seq: int


def _percent(part: int, whole: int) -> str:
    return "0%" if not whole else f"{Decimal(part * 100) / Decimal(whole):.2f}%"


def outcomes_view(ledger: Ledger, filters: Filters, x: list[int]) -> Outcomes:
    found = usage(ledger, start=filters.since, end=filters.until, granularity="day", group_by="outcome")
    where = _index(x)
    per_day_all = [0] * len(x)
    per_day: dict[str, list[int]] = {ERROR: [0] * len(x), REFUSAL: [0] * len(x)}
    counts: dict[str, int] = {}
    for row in found.rows:
        outcome = row.group or ""
        counts[outcome] = counts.get(outcome, 0) + row.totals.requests
        i = where.get(int(row.period_start.timestamp()))
        if i is None:
            continue
        per_day_all[i] += row.totals.requests
        if outcome in per_day:
            per_day[outcome][i] += row.totals.requests
    total = sum(counts.values())
    order = [*OUTCOME_WORDS, *sorted(set(counts) - set(OUTCOME_WORDS))]
    rows = [(o, OUTCOME_WORDS.get(o, o), counts.get(o, 0), _percent(counts.get(o, 0), total)) for o in order
            if o in counts or o in (ERROR, REFUSAL)]
    chart = [] if not total else [
        {"label": label, "values": [100.0 * n / all_ if all_ else 0.0 for n, all_ in zip(per_day[o], per_day_all,
                                                                                           strict=True)]}
        for o, label in ((ERROR, "engine errors (%)"), (REFUSAL, "refusals (%)"))]
    return Outcomes(rows, total, chart, found.folded_seq)
