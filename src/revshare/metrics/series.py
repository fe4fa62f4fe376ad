"""Every series revshare exports, with the OpenTelemetry GenAI name it maps to where one exists.

    series (Prometheus)                                 labels              OpenTelemetry GenAI
    revshare_http_requests_total                        route, status_class, outcome
    revshare_http_request_duration_seconds              route, status_class
    gen_ai_server_request_duration_seconds              model               gen_ai.server.request.duration
    gen_ai_server_time_to_first_token_seconds           model               gen_ai.server.time_to_first_token
    gen_ai_server_time_per_output_token_seconds         model               gen_ai.server.time_per_output_token
    revshare_tokens_total                               model, type         gen_ai.client.token.usage (input|output)
    revshare_engine_queue_wait_seconds                  engine
    revshare_engine_queue_depth                         engine
    revshare_engine_errors_total                        engine, kind
    revshare_engine_retries_total                       engine
    revshare_engine_healthy                             engine
    revshare_records_committed_total
    revshare_ledger_commit_seconds
    revshare_ledger_commit_batch_size
    revshare_ledger_backlog
    revshare_ledger_intents_outstanding
    revshare_refusals_total                             kind
    revshare_billed_amount_total                        model, currency
    revshare_log_size                                   log
    revshare_log_pending_records                        log
    revshare_log_checkpoint_age_seconds                 log
    revshare_log_checkpoint_interval_seconds
    revshare_log_audit_failures_total                   log
    revshare_model_end_users_estimate                   model
    revshare_licence_end_users_estimate                 licence
    revshare_licence_users_threshold                    licence, users

Each gateway builds its own `Metrics` (its own registry), so two gateways in one process (tests,
benchmarks) never share counts. The request path records into tallies (`tally.py`: a plain
number per thread, no lock) that are folded into the prometheus-client series before every
collection. Gauges that describe state (backlog, queue depth, log size) are
read when Prometheus scrapes, through the callbacks a component registers with `observe_*`,
so the request path pays nothing for them.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from revshare.metrics.tally import CounterTally, HistogramTally

__all__ = ["LATENCY_BUCKETS", "MULTIPROC_ENV", "TOKEN_TIME_BUCKETS", "Metrics", "value_of"]

# `*_created` series double the count and no dashboard or alert here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds. Gateway overhead is ~1-3 ms; a completion runs 0.05-120 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TOKEN_TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# prometheus-client writes to shared files instead of memory when this is set (at its import).
MULTIPROC_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
MULTIPROC_FOLD_SECONDS = 1.0

StateReader = Callable[[], Iterable[tuple[tuple[str, ...], float]]]


class _StateCollector(Collector):
    """Gauges read at scrape time: each reader yields (label values, value) pairs."""

    def __init__(self) -> None:
        self._gauges: dict[str, tuple[str, tuple[str, ...], list[StateReader]]] = {}

    def declare(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> None:
        self._gauges.setdefault(name, (documentation, labels, []))

    def add(self, name: str, reader: StateReader) -> None:
        self._gauges[name][2].append(reader)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (documentation, labels, readers) in self._gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for reader in readers:
                for values, value in reader():
                    family.add_metric(list(values), value)
            yield family


class _FoldFirst(Collector):
    """Registered before every series, so any collection of the registry folds the tallies first."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self._metrics.fold()
        return iter(())


class Metrics:
    """The series of one gateway, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self._tallies: list[CounterTally | HistogramTally] = []
        r.register(_FoldFirst(self))
        self.http_requests = CounterTally(Counter(
            "revshare_http_requests", "HTTP requests answered, by route template, status class (2xx..5xx) and "
            "the outcome of the usage record (none when the request was refused before an engine ran)",
            ["route", "status_class", "outcome"], registry=r))
        self.http_duration = HistogramTally(Histogram(
            "revshare_http_request_duration_seconds", "Time from request to the last byte of the response",
            ["route", "status_class"], buckets=LATENCY_BUCKETS, registry=r))
        self.request_duration = HistogramTally(Histogram(
            "gen_ai_server_request_duration_seconds", "Duration of admitted completions, by model",
            ["model"], buckets=LATENCY_BUCKETS, registry=r))
        self.time_to_first_token = HistogramTally(Histogram(
            "gen_ai_server_time_to_first_token_seconds", "Streams: time from request to the first content chunk",
            ["model"], buckets=LATENCY_BUCKETS, registry=r))
        self.time_per_output_token = HistogramTally(Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Streams: time after the first chunk divided by the output tokens after the first",
            ["model"], buckets=TOKEN_TIME_BUCKETS, registry=r))
        self.tokens = CounterTally(Counter(
            "revshare_tokens", "Tokens of committed records, by model and type (input, output)",
            ["model", "type"], registry=r))
        self.engine_queue_wait = HistogramTally(Histogram(
            "revshare_engine_queue_wait_seconds", "Embedded engines: time a request waited for the model",
            ["engine"], buckets=LATENCY_BUCKETS, registry=r))
        self.engine_errors = CounterTally(Counter(
            "revshare_engine_errors", "Engine failures by kind (rejected, unavailable, error)",
            ["engine", "kind"], registry=r))
        self.engine_retries = CounterTally(Counter(
            "revshare_engine_retries", "Requests a routed model moved off this engine (it failed before the first "
            "byte) to try another", ["engine"], registry=r))
        self.records_committed = CounterTally(Counter(
            "revshare_records_committed", "Usage records committed to the ledger", registry=r))
        self.commit_seconds = HistogramTally(Histogram(
            "revshare_ledger_commit_seconds", "Duration of one group-commit transaction",
            buckets=LATENCY_BUCKETS, registry=r))
        self.commit_batch_size = HistogramTally(Histogram(
            "revshare_ledger_commit_batch_size", "Records and intents written per group commit",
            buckets=BATCH_BUCKETS, registry=r))
        self.refusals = CounterTally(Counter(
            "revshare_refusals", "Requests refused by kind (budget_exceeded, budget_reserved_in_flight, "
            "rate_limit_exceeded, idempotency_key_in_use, ledger_unavailable, ...)", ["kind"], registry=r))
        self.billed = CounterTally(Counter(
            "revshare_billed_amount", "Amount charged by committed records, in the price currency; a float for "
            "dashboards only, the ledger's Decimal amounts are the accounting truth",
            ["model", "currency"], registry=r))
        self.log_audit_failures = CounterTally(Counter(
            "revshare_log_audit_failures", "Audit findings: the ledger no longer matches what a log signed",
            ["log"], registry=r))
        self.state = _StateCollector()
        for name, documentation, labels in (
            ("revshare_engine_queue_depth", "Embedded engines: requests waiting for or holding the model", ("engine",)),
            ("revshare_engine_healthy", "Routed engines: 1 while the engine takes requests, 0 while it is out",
             ("engine",)),
            ("revshare_ledger_backlog", "Records and intents queued for the group-commit writer", ()),
            ("revshare_ledger_intents_outstanding", "Requests that hold an intent and have no record yet", ()),
            ("revshare_log_size", "Leaves in each verifiable log", ("log",)),
            ("revshare_log_pending_records", "Committed records not yet integrated into the logs", ("log",)),
            ("revshare_log_checkpoint_age_seconds", "Seconds since each log's last signed checkpoint", ("log",)),
            ("revshare_log_checkpoint_interval_seconds", "How often the logs are meant to be signed", ()),
            ("revshare_model_end_users_estimate", "This month's distinct end users per model on this gateway "
             "(HyperLogLog estimate; exact: GET /admin/terms/users)", ("model",)),
            ("revshare_licence_end_users_estimate", "This month's distinct end users per licence on this gateway "
             "(HyperLogLog estimate)", ("licence",)),
            ("revshare_licence_users_threshold", "Each licence threshold of monthly active users as this gateway "
             "estimates it: 0 below, 1 near (from 80%), 2 over", ("licence", "users")),
        ):
            self.state.declare(name, documentation, labels)
        r.register(self.state)
        self._tallies = [v for v in vars(self).values() if isinstance(v, CounterTally | HistogramTally)]
        if any(os.environ.get(name) for name in MULTIPROC_ENV):
            threading.Thread(target=self._fold_forever, name="revshare-metrics-fold", daemon=True).start()
            atexit.register(self.fold)  # a worker that exits leaves all its counts in the files

    def fold(self) -> None:
        """Add what the request path recorded since the last fold to the prometheus-client series."""
        for tally in self._tallies:
            tally.fold()

    def _fold_forever(self) -> None:
        while True:
            time.sleep(MULTIPROC_FOLD_SECONDS)
            self.fold()

    def families(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Every family this gateway exports, with or without samples: name -> (type, label names).

        Names are the families' (a counter without its `_total`, a histogram without `_bucket`)."""
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        for tally in self._tallies:
            sink = tally.sink
            found[sink._name] = (str(sink._type), tuple(sink._labelnames))
        for name, (_, labels, _) in self.state._gauges.items():
            found[name] = ("gauge", labels)
        return found

    def observe_state(self, name: str, reader: StateReader) -> None:
        """Register a scrape-time reader for one of the state gauges above."""
        self.state.add(name, reader)

    def series_count(self) -> int:
        """How many time series this registry exposes now (for the cardinality test)."""
        return sum(len(family.samples) for family in self.registry.collect())


def value_of(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> Any:
    """The current value of a sample (None if absent): for tests and the readiness check."""
    return metrics.registry.get_sample_value(name, labels or {})
