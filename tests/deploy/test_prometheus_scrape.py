"""A real Prometheus server (Debian's `prometheus`, on a free loopback port) scrapes a real gateway's
/metrics and loads deploy/prometheus/alerts.yml; its HTTP API then shows the series with the values
the ledger holds, and every alert rule evaluating cleanly against them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase

from revshare.metrics import Metrics
from tests.support.prometheus import ALERTS, family_labels, tool
from tests.support.servers import free_port, running_gateway
from tests.support.stub_gateway import BODY, stub_catalog, stub_upstream

pytestmark = pytest.mark.slow

CHAT = "/v1/chat/completions"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll probe() until it returns something other than None; an AssertionError or a connection
    error counts as not yet, and the last one is reported if the deadline passes."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if (value := probe()) is not None:
                return value
        except (httpx.TransportError, AssertionError) as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Prometheus:
    """The HTTP API of a running Prometheus server."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        """An instant query's vector: each series' labels (without __name__, job, instance) → value."""
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return {frozenset((k, v) for k, v in item["metric"].items() if k not in {"__name__", "job", "instance"}):
                float(item["value"][1]) for item in data["result"]}

    def value(self, expr: str) -> float:
        vector = self.query(expr)
        assert len(vector) == 1, f"{expr}: {vector}"
        return next(iter(vector.values()))


@contextmanager
def prometheus_scraping(target: str, tmp_path: Path) -> Iterator[Prometheus]:
    """`prometheus` scraping target's /metrics every second and evaluating alerts.yml every second."""
    binary = tool("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": "revshare", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [target]}]}],
    }))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    server = Prometheus(f"http://127.0.0.1:{port}", log)
    try:
        def ready() -> bool | None:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {proc.returncode}:\n{log.read_text()}")
            return True if httpx.get(server.url + "/-/ready", timeout=2).status_code == 200 else None

        wait_for("prometheus to be ready", ready)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def test_a_real_prometheus_scrapes_the_gateway_and_loads_the_alert_rules(tmp_path: Path) -> None:
    tool("prometheus")  # before starting anything: skips (or fails in CI) without the package
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with stub_upstream() as base, running_gateway(stub_catalog(base), url) as gw:
        headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
        with httpx.Client(base_url=gw.url, headers=headers, timeout=30) as client:
            assert client.post(CHAT, json=BODY).status_code == 200
            with client.stream("POST", CHAT, json={**BODY, "stream": True}) as stream:
                assert stream.status_code == 200
                assert "[DONE]" in "".join(stream.iter_text())
            assert client.post(CHAT, json={**BODY, "model": "no-such-model"}).status_code == 404
        records = wait_for("both records", lambda: rows if len(rows := gw.ledger.records()) == 2 else None)

        exposition = httpx.get(gw.url + "/metrics", timeout=10)
        assert exposition.status_code == 200, f"GET /metrics answered {exposition.status_code}"
        assert lint(exposition.content) == ""

        with prometheus_scraping(gw.url.removeprefix("http://"), tmp_path) as prom:
            wait_for("a scrape with revshare_records_committed_total",
                     lambda: prom.query("revshare_records_committed_total") or None)

            def gateway_up() -> bool:
                assert (up := prom.query('up{job="revshare"}')) == {labels(): 1.0}, up
                return True

            wait_for("up == 1 for the gateway", gateway_up, timeout=30)  # one scrape may time out on a busy box
            assert prom.value("revshare_records_committed_total") == len(records) == 2

            requests = prom.query(f'revshare_http_requests_total{{route="{CHAT}"}}')
            assert requests == {labels(route=CHAT, status_class="2xx", outcome="ok"): 2.0,
                                labels(route=CHAT, status_class="4xx", outcome="none"): 1.0}
            scrapes = prom.query('revshare_http_requests_total{route="/metrics"}')
            assert set(scrapes) == {labels(route="/metrics", status_class="2xx", outcome="none")}

            tokens = prom.query("sum by (type) (revshare_tokens_total)")
            assert tokens == {labels(type="input"): sum(r.prompt_tokens for r in records),
                              labels(type="output"): sum(r.completion_tokens for r in records)}
            assert prom.value("sum(gen_ai_server_time_to_first_token_seconds_count)") == 1.0  # the stream
            assert prom.value("revshare_log_checkpoint_interval_seconds") == stub_catalog(base).log.interval_s

            expected_groups = {g["name"]: len(g["rules"]) for g in yaml.safe_load(ALERTS.read_text())["groups"]}

            def evaluated_rules() -> list[dict[str, Any]] | None:
                groups = prom.get("/api/v1/rules")["groups"]
                rules = [rule for group in groups for rule in group["rules"]]
                return rules if {g["name"]: len(g["rules"]) for g in groups} == expected_groups and all(
                    rule["health"] != "unknown" for rule in rules) else None

            rules = wait_for("the alert rules to load and evaluate", evaluated_rules)
            assert {rule["name"]: (rule["health"], rule.get("lastError", "")) for rule in rules} == {
                rule["name"]: ("ok", "") for rule in rules}
            firing = [alert for alert in prom.get("/api/v1/alerts")["alerts"] if alert["state"] == "firing"]
            assert firing == []


def every_series_once() -> Metrics:
    """A Metrics with one sample in every family (a family without samples exposes no name to lint)."""
    metrics = Metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            child: Any = metric.labels(*["x"] * len(metric._labelnames)) if metric._labelnames else metric
            child.inc() if hasattr(child, "inc") else child.observe(1)
    for name, (_, names, _) in metrics.state._gauges.items():
        metrics.observe_state(name, one_sample(len(names)))
    return metrics


def one_sample(label_count: int) -> Callable[[], list[tuple[tuple[str, ...], float]]]:
    return lambda: [(("x",) * label_count, 1.0)]


def lint(exposition: bytes) -> str:
    """`promtool check metrics`' complaints about names, units and types (empty: none)."""
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=exposition, capture_output=True,
                            timeout=60, check=False)
    return "" if result.returncode == 0 else (result.stdout + result.stderr).decode()


def test_promtool_lints_every_series_clean() -> None:
    metrics = every_series_once()
    assert metrics.series_count() >= len(family_labels(metrics))
    assert lint(generate_latest(metrics.registry)) == ""
