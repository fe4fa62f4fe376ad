"""Tallies: what the request path records reaches prometheus-client exactly, whatever the threads
and however often it is folded."""

from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from revshare.metrics import Metrics
from revshare.metrics.series import LATENCY_BUCKETS, value_of
from revshare.metrics.tally import CounterTally, HistogramTally


def test_a_folded_histogram_exposes_what_prometheus_client_would_have() -> None:
    rng = random.Random(7)
    edges = [0.0005, 0.001, 0.0010001, 0.05, 7.0, 120.0, 200.0, 1e9]  # on, beside and past the bounds
    values = [rng.choice(edges) if rng.random() < 0.5 else rng.expovariate(20) for _ in range(500)]
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("t_seconds", "t", ["model"], buckets=LATENCY_BUCKETS, registry=direct)
    tally = HistogramTally(Histogram("t_seconds", "t", ["model"], buckets=LATENCY_BUCKETS, registry=tallied))
    for value in values:
        reference.labels("m").observe(value)
        tally.labels("m").observe(value)
    tally.fold()
    assert generate_latest(tallied) == generate_latest(direct)  # every bucket edge ("less or equal") too


def test_folds_in_the_middle_lose_and_double_nothing() -> None:
    registry = CollectorRegistry()
    tally = HistogramTally(Histogram("h", "h", buckets=(1, 2), registry=registry))
    for n in range(1, 301):
        tally.observe(n % 3)
        if n % 7 == 0:
            tally.fold()
    tally.fold()
    tally.fold()
    assert registry.get_sample_value("h_bucket", {"le": "1.0"}) == 200  # 0s and 1s
    assert registry.get_sample_value("h_count") == 300
    assert registry.get_sample_value("h_sum") == 300  # 100 × (0 + 1 + 2)


def test_threads_recording_while_another_folds_all_count_exactly() -> None:
    registry = CollectorRegistry()
    counter = CounterTally(Counter("c", "c", ["route"], registry=registry))
    histogram = HistogramTally(Histogram("d", "d", buckets=(0.5,), registry=registry))
    stop = threading.Event()

    def record() -> None:
        cell = counter.labels("/x")
        for _ in range(20_000):
            cell.inc()
            histogram.observe(0.25)

    def fold() -> None:
        while not stop.is_set():
            counter.fold()
            histogram.fold()

    folder = threading.Thread(target=fold)
    folder.start()
    workers = [threading.Thread(target=record) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    folder.join()
    counter.fold()
    histogram.fold()
    assert registry.get_sample_value("c_total", {"route": "/x"}) == 80_000
    assert registry.get_sample_value("d_count") == 80_000
    assert registry.get_sample_value("d_bucket", {"le": "0.5"}) == 80_000


def test_labels_by_name_or_position_name_the_same_series_and_wrong_labels_are_refused() -> None:
    registry = CollectorRegistry()
    counter = CounterTally(Counter("c", "c", ["engine", "kind"], registry=registry))
    counter.labels("e", "k").inc(2)
    counter.labels(kind="k", engine="e").inc(3)
    counter.fold()
    assert registry.get_sample_value("c_total", {"engine": "e", "kind": "k"}) == 5
    with pytest.raises(ValueError):
        counter.labels("only-one")
    with pytest.raises(ValueError):
        counter.labels(engine="e", nope="k")
    with pytest.raises(ValueError):
        counter.labels("e", kind="k")


def test_a_series_exists_at_zero_from_its_first_labels_and_a_read_folds_first() -> None:
    metrics = Metrics()
    metrics.refusals.labels("budget_exceeded")
    assert value_of(metrics, "revshare_refusals_total", {"kind": "budget_exceeded"}) == 0
    metrics.refusals.labels("budget_exceeded").inc()
    metrics.records_committed.inc(3)
    # No explicit fold: collecting the registry (a scrape, this read) folds first.
    assert value_of(metrics, "revshare_refusals_total", {"kind": "budget_exceeded"}) == 1
    assert value_of(metrics, "revshare_records_committed_total") == 3


def test_a_family_with_labels_refuses_a_value_without_them_at_once() -> None:
    registry = CollectorRegistry()
    counter = CounterTally(Counter("c", "c", ["route"], registry=registry))
    histogram = HistogramTally(Histogram("h", "h", ["route"], buckets=(1,), registry=registry))
    with pytest.raises(ValueError, match="route"):
        counter.inc()
    with pytest.raises(ValueError, match="route"):
        histogram.observe(0.5)
    with pytest.raises(ValueError, match="route"):
        counter.labels()
    counter.fold()
    histogram.fold()  # nothing was recorded, nothing breaks the fold
    assert registry.get_sample_value("h_count", {"route": "x"}) is None


def test_labels_hand_back_one_cell_per_series() -> None:
    counter = CounterTally(Counter("c", "c", ["engine", "kind"], registry=CollectorRegistry()))
    assert counter.labels("e", "k") is counter.labels(kind="k", engine="e")
