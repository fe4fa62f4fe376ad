"""Counters and histograms the request path can afford: plain numbers on the recording thread,
folded into prometheus-client when someone reads them.

prometheus-client takes a lock for every increment (a histogram observation takes two, after a
label check and a walk over the buckets): 1-5 µs each, and a request records a dozen. A tally
keeps, for each series (a cell: one set of label values) and each thread that records into it,
a row of cumulative values that only that thread writes: no lock, one dict lookup by thread id
(about 0.1 µs). `fold()` adds what grew since the last fold to the prometheus-client series,
which stay what the registry exposes and what multiprocess mode writes to its files. `labels()`
hands back the same cell for the same values, so a cell's rows are found once, not per call.

`Metrics` folds before every collection (a scrape, a test's read), and every second in
multiprocess mode so that the worker that answers a scrape sees the others' counts at most a
second late.

Why no lock on the hot path is safe: each row has one writer (its thread; a thread id is reused
only once its thread has ended) and the folder only reads it: `list[:]` and reading one item run
without releasing the GIL, and every value only grows, so a fold that reads a value mid-update
folds it at the next fold. Cells and rows are added under the tally's lock, which the fold holds.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import Counter, Histogram

__all__ = ["CounterCell", "CounterTally", "HistogramCell", "HistogramTally"]

Labels = tuple[str, ...]
Sink = TypeVar("Sink", Counter, Histogram)
Cell = TypeVar("Cell", "CounterCell", "HistogramCell")

_get_ident = threading.get_ident


class _Inc(Protocol):
    def __call__(self, amount: float = 1) -> None: ...


class _Tally(Generic[Sink, Cell]):
    """A family of series: label values -> its cell, and what was folded of each."""

    def __init__(self, sink: Sink) -> None:
        self.sink: Sink = sink
        self._cells: dict[Labels, Cell] = {}
        self._folded: dict[Labels, list[float]] = {}
        self._lock = threading.Lock()  # adding a cell or a row, folding: never on the hot path

    def labels(self, *values: str, **named: str) -> Cell:
        """The cell of these label values, given by position or by name, as prometheus-client
        takes them (and checked by it: a wrong count or name raises ValueError)."""
        if not named:
            cell = self._cells.get(values)
            if cell is not None:
                return cell
        elif values:
            raise ValueError("labels are given by position or by name, not both")
        else:
            names = self.sink._labelnames
            if set(named) != set(names):
                raise ValueError(f"labels {sorted(named)} do not match {list(names)}")
            values = tuple(named[name] for name in names)
            cell = self._cells.get(values)
            if cell is not None:
                return cell
        # The series exist from the first `labels()` on: created at zero, a count a scrape
        # shows before the fold that fills it is 0, never missing.
        self._sink_child(values)
        with self._lock:
            cell = self._cells.get(values)
            if cell is None:
                cell = self._cells[values] = self._new_cell(values)
        return cell

    def _new_cell(self, labels: Labels) -> Cell:
        raise NotImplementedError

    def _sink_child(self, labels: Labels) -> Any:
        if labels:
            return self.sink.labels(*labels)
        self._labels_missing()
        return self.sink

    def _labels_missing(self, amount: float = 1) -> None:
        """What recording into a family with labels, without naming them, raises."""
        if self.sink._labelnames:
            raise ValueError(f"labels {list(self.sink._labelnames)} are missing")

    def _totals(self) -> list[tuple[Labels, list[float]]]:
        """Each cell's rows summed (under the lock: no cell or row is added meanwhile)."""
        totals = []
        for labels, cell in self._cells.items():
            rows = [row[:] for row in cell._rows.values()]
            if rows:
                total = rows[0]
                for row in rows[1:]:
                    for i, value in enumerate(row):
                        total[i] += value
                totals.append((labels, total))
        return totals

    def _add_row(self, rows: dict[int, list[float]], width: int) -> list[float]:
        row = [0.0] * width
        with self._lock:
            rows[_get_ident()] = row
        return row


class CounterTally(_Tally[Counter, "CounterCell"]):
    """A Counter's increments, summed per thread."""

    def __init__(self, sink: Counter) -> None:
        super().__init__(sink)
        # A family without labels is one cell, and `inc` is that cell's own: one call, not two.
        self.inc: _Inc = self._labels_missing if sink._labelnames else self.labels().inc

    def _new_cell(self, labels: Labels) -> CounterCell:
        return CounterCell(self, labels)

    def fold(self) -> None:
        with self._lock:
            for labels, (total,) in self._totals():
                grown = total - self._folded.get(labels, (0.0,))[0]
                if grown > 0:
                    self._sink_child(labels).inc(grown)
                    self._folded[labels] = [total]


class CounterCell:
    """One series of a CounterTally, bound to its label values: a row per recording thread."""

    __slots__ = ("_labels", "_rows", "_tally")

    def __init__(self, tally: CounterTally, labels: Labels) -> None:
        self._tally, self._labels = tally, labels
        self._rows: dict[int, list[float]] = {}  # thread id -> [cumulative value]

    def inc(self, amount: float = 1) -> None:
        try:
            self._rows[_get_ident()][0] += amount
        except KeyError:
            self._tally._add_row(self._rows, 1)[0] += amount


class HistogramTally(_Tally[Histogram, "HistogramCell"]):
    """A Histogram's observations: per thread, a count per bucket and the sum (the last item)."""

    def __init__(self, sink: Histogram) -> None:
        super().__init__(sink)
        self.bounds: tuple[float, ...] = tuple(sink._upper_bounds)  # ends with +Inf
        # A family without labels is one cell, and `observe` is that cell's own: one call, not two.
        self.observe: Callable[[float], None] = self._labels_missing if sink._labelnames else self.labels().observe

    def _new_cell(self, labels: Labels) -> HistogramCell:
        return HistogramCell(self, labels)

    def fold(self) -> None:
        with self._lock:
            for labels, total in self._totals():
                before = self._folded.get(labels)
                child = self._sink_child(labels)
                # prometheus-client has no public "add n to a bucket"; its children keep a value
                # per bucket and one for the sum (tests/metrics/test_tally.py pins the layout).
                for i, value in enumerate(total[:-1]):
                    grown = value - (before[i] if before else 0)
                    if grown:
                        child._buckets[i].inc(grown)
                grown_sum = total[-1] - (before[-1] if before else 0)
                if grown_sum:
                    child._sum.inc(grown_sum)
                self._folded[labels] = total


class HistogramCell:
    """One series of a HistogramTally, bound to its label values: a row per recording thread."""

    __slots__ = ("_bounds", "_labels", "_rows", "_tally")

    def __init__(self, tally: HistogramTally, labels: Labels) -> None:
        self._tally, self._labels, self._bounds = tally, labels, tally.bounds
        self._rows: dict[int, list[float]] = {}  # thread id -> [count per bucket..., sum]

    def observe(self, value: float) -> None:
        try:
            row = self._rows[_get_ident()]
        except KeyError:
            row = self._tally._add_row(self._rows, len(self._bounds) + 1)
        row[bisect_left(self._bounds, value)] += 1  # Prometheus buckets are "less than or equal"
        row[-1] += value
