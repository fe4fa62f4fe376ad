"""Usage aggregates: the only thing settlement needs from the ledger.

Settlement never reads amounts from records. It recomputes them from token sums and the price
version (prices have at most 6 decimal places, so tokens x price / 1e6 is exact at 12 places
and the sum of per-request amounts equals the amount of the summed tokens).

`aggregate()` is the reference, in Python, over `UsageRecord`s; the month-end room runs the same
GROUP BY over the ledger's `usage_records` table (`revshare.monthend.usage_sums.aggregate_sql`).
Tests hold them equal. Pure: this module knows nothing of SQL.

The records' endpoint is not a key: what a line bills follows from its model, whose catalog kind
(chat or embedding) labels the lines after rating (`revshare.settlement.kinds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from revshare.records.record import Outcome, UsageRecord
from revshare.settlement.period import Window

__all__ = ["CHARGED_OUTCOMES", "UsageAggregate", "aggregate", "merge_aggregates", "sort_aggregates"]

CHARGED_OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome if o.charged)


@dataclass(frozen=True, slots=True, order=True)
class UsageAggregate:
    """Charged usage summed over one group of records.

    Attributes:
      customer, key_id, model, price_version: the group's keys, as on the records.
      segment: index of the window segment (see `Window.edges`) the usage falls in; late
        usage is placed by its append time.
      late: True for records of an already-closed period that arrived after its close.
      requests: number of records; prompt_tokens, completion_tokens: their sums.
    """

    customer: str
    key_id: str
    model: str
    price_version: str
    segment: int
    late: bool
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def key(self) -> tuple[str, str, str, str, int, bool]:
        return (self.customer, self.key_id, self.model, self.price_version, self.segment, self.late)


def sort_aggregates(rows: Iterable[UsageAggregate]) -> tuple[UsageAggregate, ...]:
    """Canonical order (by key), so that equal inputs compare and settle identically."""
    return tuple(sorted(rows))


def merge_aggregates(rows: Iterable[UsageAggregate]) -> tuple[UsageAggregate, ...]:
    """Rows with the same key summed into one, in canonical order: the whole from its parts."""
    sums: dict[tuple[str, str, str, str, int, bool], list[int]] = {}
    for row in rows:
        acc = sums.setdefault(row.key, [0, 0, 0])
        acc[0] += row.requests
        acc[1] += row.prompt_tokens
        acc[2] += row.completion_tokens
    return sort_aggregates(UsageAggregate(*k, *v) for k, v in sums.items())


def aggregate(
    records: Iterable[UsageRecord],
    window: Window,
    appended_at: Mapping[str, datetime] | None = None,
) -> tuple[UsageAggregate, ...]:
    """The reference GROUP BY: charged records the window takes, summed per key.

    `appended_at` maps record id to the time the ledger appended it; a window with `closed_at`
    needs it (to hold back records appended after the close and to find late ones).
    """
    rows = []
    for r in records:
        if not r.outcome.charged:
            continue
        placed = window.place(r.started_at, None if appended_at is None else appended_at.get(r.id))
        if placed is not None:
            rows.append(UsageAggregate(r.customer, r.key_id, r.model, r.price_version, placed[0], placed[1],
                                       1, r.prompt_tokens, r.completion_tokens))
    return merge_aggregates(rows)
