"""Settlement periods (calendar months, UTC) and the window a close looks through.

A `Window` cuts its month into segments at every instant a contract version starts or ends
inside it, so that inside one segment each contract has at most one version in force. It also
fixes which records a close sees, so that re-running a close gives the same answer and every
record lands in exactly one period:

- current usage: started in [start, end) and appended before `closed_at`;
- late usage: started before `start`, appended in [`late_after`, `closed_at`), where
  `late_after` is the instant the previous period was closed. It lands, dated by its append
  time, as an adjustment in this period.

With `closed_at` None the window takes every record that started in the month and no late ones.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from revshare.settlement.terms import ContractConfig

__all__ = ["Period", "Window", "window_for"]


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A calendar month in UTC.

    Attributes:
      year, month: the month; `label` is "YYYY-MM".
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")
        # The month after must exist too (`end`): years 0 and 9999 are not periods.
        if not 1 <= self.year <= 9998:
            raise ValueError(f"year must be 0001..9998, got {self.year:04d}")

    @classmethod
    def parse(cls, text: str) -> Period:
        match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text.strip())
        if not match:
            raise ValueError(f"a period is written YYYY-MM, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, when: datetime) -> Period:
        when = when.astimezone(UTC)
        return cls(when.year, when.month)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


@dataclass(frozen=True, slots=True)
class Window:
    """What one close of one period looks at.

    Attributes:
      period: the month being settled.
      cuts: instants strictly inside the month where a contract version starts or ends.
      closed_at: records appended at or after this instant wait for the next close (None: all).
      late_after: the previous close; records of earlier months appended since then are late
        usage for this period (None: no late usage).
    """

    period: Period
    cuts: tuple[datetime, ...] = ()
    closed_at: datetime | None = None
    late_after: datetime | None = None

    def __post_init__(self) -> None:
        if list(self.cuts) != sorted(set(self.cuts)):
            raise ValueError("cuts must be strictly increasing")
        if any(not self.period.start < c < self.period.end for c in self.cuts):
            raise ValueError("cuts must lie strictly inside the period")
        if self.late_after is not None and self.closed_at is None:
            raise ValueError("late usage needs closed_at: a window without it takes no late records")

    @property
    def edges(self) -> tuple[datetime, ...]:
        """Segment edges: start, the cuts, end. Segment i is [edges[i], edges[i + 1])."""
        return (self.period.start, *self.cuts, self.period.end)

    @property
    def segments(self) -> int:
        return len(self.cuts) + 1

    def segment_of(self, when: datetime) -> int:
        """The segment of an instant; instants past either end land in the first or last one."""
        return min(bisect.bisect_right(self.cuts, when), len(self.cuts))

    def place(self, started_at: datetime, appended_at: datetime | None) -> tuple[int, bool] | None:
        """(segment, late) for a record, or None when this close does not take it."""
        start, end = self.period.start, self.period.end
        if self.closed_at is not None:
            if appended_at is None:
                raise ValueError("a window with closed_at needs each record's appended_at")
            if appended_at >= self.closed_at:
                return None
        if start <= started_at < end:
            return self.segment_of(started_at), False
        late = self.late_after is not None and appended_at is not None and appended_at >= self.late_after
        if started_at < start and late:
            assert appended_at is not None
            return self.segment_of(appended_at), True
        return None


def window_for(
    contracts: Iterable[ContractConfig],
    period: Period,
    *,
    closed_at: datetime | None = None,
    late_after: datetime | None = None,
) -> Window:
    """The window for a close: cut wherever a contract version starts or ends inside the month."""
    cuts: set[datetime] = set()
    for c in contracts:
        for t in (c.effective_from, c.effective_to):
            if t is not None and period.start < t < period.end:
                cuts.add(t)
    return Window(period, tuple(sorted(cuts)), closed_at, late_after)
