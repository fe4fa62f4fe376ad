"""Counters and histograms the request path can afford: plain numbers on the recording thread,
folded into prometheus-client when someone reads them.

prometheus-client takes a lock for every increment (a histogram observation takes two, after a
label check and a walk over the buckets): 1-5 µs each, and a request records a dozen. A tally
keeps cumulative values in a dict that only the recording thread writes (one per thread, no
lock, about 0.2 µs), and `fold()` adds what grew since the last fold to the prometheus-client
series, which stay what the registry exposes and what multiprocess mode writes to its files.

`Metrics` folds before every collection (a scrape, a test's read), and every second in
multiprocess mode so that the worker that answers a scrape sees the others' counts at most a
second late.

Why no lock on the hot path is safe: each shard has one writer (its thread) and the folder only
reads it: `dict.copy()` and `list[:]` run without releasing the GIL, and every value only grows,
so a fold that reads a value mid-update folds it at the next fold.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any, Generic, TypeVar

from prometheus_client import Counter, Histogram

__all__ = ["CounterCell", "CounterTally", "HistogramCell", "HistogramTally"]

Labels = tuple[str, ...]
Sink = TypeVar("Sink", Counter, Histogram)
Value = TypeVar("Value")


class _Tally(Generic[Sink, Value]):
    """A family of series: per thread, label values -> cumulative value."""

    def __init__(self, sink: Sink) -> None:
        self.sink: Sink = sink
        self._local = threading.local()
        self._shards: list[dict[Labels, Value]] = []
        self._folded: dict[Labels, Value] = {}
        self._lock = threading.Lock()  # registering a shard, folding: never on the hot path

    def _shard(self) -> dict[Labels, Value]:
        try:
            return self._local.shard  # type: ignore[no-any-return]
        except AttributeError:
            shard: dict[Labels, Value] = {}
            with self._lock:
                self._shards.append(shard)
            self._local.shard = shard
            return shard

    def _labels(self, values: Labels, named: dict[str, str]) -> Labels:
        """Label values in the family's order, given by position or by name, as prometheus-client
        takes them (and checked by it: a wrong count or name raises ValueError)."""
        if named:
            if values:
                raise ValueError("labels are given by position or by name, not both")
            values = tuple(named[name] for name in self.sink._labelnames) if set(named) == set(
                self.sink._labelnames) else ()
            if not values:
                raise ValueError(f"labels {sorted(named)} do not match {list(self.sink._labelnames)}")
        self._sink_child(values)
        return values

    def _sink_child(self, labels: Labels) -> Any:
        # The series exist from the first `labels()` on: created at zero, a count a scrape
        # shows before the fold that fills it is 0, never missing.
        return self.sink.labels(*labels) if labels else self.sink


class CounterTally(_Tally[Counter, float]):
    """A Counter's increments, summed per thread."""

    def labels(self, *values: str, **named: str) -> CounterCell:
        return CounterCell(self, self._labels(values, named))

    def inc(self, amount: float = 1) -> None:
        """For a family without labels."""
        shard = self._shard()
        shard[()] = shard.get((), 0) + amount

    def fold(self) -> None:
        with self._lock:
            totals: dict[Labels, float] = {}
            for shard in self._shards:
                for labels, value in shard.copy().items():
                    totals[labels] = totals.get(labels, 0) + value
            for labels, total in totals.items():
                grown = total - self._folded.get(labels, 0)
                if grown > 0:
                    self._sink_child(labels).inc(grown)
                    self._folded[labels] = total


class CounterCell:
    """One series of a CounterTally, bound to its label values."""

    __slots__ = ("_labels", "_tally")

    def __init__(self, tally: CounterTally, labels: Labels) -> None:
        self._tally, self._labels = tally, labels

    def inc(self, amount: float = 1) -> None:
        shard = self._tally._shard()
        shard[self._labels] = shard.get(self._labels, 0) + amount


class HistogramTally(_Tally[Histogram, list[float]]):
    """A Histogram's observations: per thread, a count per bucket and the sum (the last item)."""

    def __init__(self, sink: Histogram) -> None:
        super().__init__(sink)
        self.bounds: tuple[float, ...] = tuple(sink._upper_bounds)  # ends with +Inf

    def labels(self, *values: str, **named: str) -> HistogramCell:
        return HistogramCell(self, self._labels(values, named))

    def observe(self, value: float) -> None:
        """For a family without labels."""
        _observe(self, (), value)

    def fold(self) -> None:
        with self._lock:
            totals: dict[Labels, list[float]] = {}
            for shard in self._shards:
                for labels, row in shard.copy().items():
                    row = row[:]
                    total = totals.get(labels)
                    if total is None:
                        totals[labels] = row
                    else:
                        for i, value in enumerate(row):
                            total[i] += value
            for labels, total in totals.items():
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
    """One series of a HistogramTally, bound to its label values."""

    __slots__ = ("_labels", "_tally")

    def __init__(self, tally: HistogramTally, labels: Labels) -> None:
        self._tally, self._labels = tally, labels

    def observe(self, value: float) -> None:
        _observe(self._tally, self._labels, value)


def _observe(tally: HistogramTally, labels: Labels, value: float) -> None:
    shard = tally._shard()
    row = shard.get(labels)
    if row is None:
        row = shard[labels] = [0.0] * (len(tally.bounds) + 1)
    row[bisect_left(tally.bounds, value)] += 1  # Prometheus buckets are "less than or equal"
    row[-1] += value
