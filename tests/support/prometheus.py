"""Prometheus tools for the deploy/ tests: find promtool and prometheus (fail in CI, skip elsewhere),
the series a gateway exports, and a PromQL reader just deep enough to name the series and labels an
expression uses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from revshare.metrics import Metrics
from tests.support.paths import REPO

DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
EXAMPLE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "revshare.json"

# Labels Prometheus attaches to every scraped series (the example config adds no others).
TARGET_LABELS = frozenset({"job", "instance"})
# Series Prometheus itself makes; None: any label.
PROMETHEUS_SERIES: dict[str, frozenset[str] | None] = {"up": TARGET_LABELS, "ALERTS": None}

_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
             "summary": ("", "_sum", "_count"), "info": ("_info",)}


def tool(name: str) -> str:
    """The path of a Prometheus binary: missing fails in CI (.ci/run installs it), skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"`{name}` is not on PATH: install Debian's prometheus package (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run should have")
        pytest.skip(message)
    return path


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)


def family_labels(metrics: Metrics) -> dict[str, frozenset[str]]:
    """Each metric family's label names (a family without samples does not carry them)."""
    return {name: frozenset(labels) for name, (_, labels) in metrics.families().items()}


def exported_series() -> dict[str, frozenset[str]]:
    """Every series name a gateway's /metrics can carry, with its label names.

    prometheus_client names a counter's family without `_total` and exposes it with it; a histogram
    family `x` is exposed as `x_bucket` (with `le`), `x_sum` and `x_count`, never as `x`.
    """
    metrics = Metrics()
    labels = family_labels(metrics)
    series: dict[str, frozenset[str]] = {}
    for family in metrics.registry.collect():
        assert family.name in labels, f"{family.name}: no metric object declares it (update tests/deploy)"
        for suffix in _SUFFIXES[family.type]:
            series[family.name + suffix] = labels[family.name] | ({"le"} if suffix == "_bucket" else set())
    return series


def series_by_family() -> dict[str, set[str]]:
    """Each metric family's series names, as exported_series() names them."""
    families: dict[str, set[str]] = {}
    for family in Metrics().registry.collect():
        families[family.name] = {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return families


# --- PromQL, read just far enough to find the series and labels an expression uses ---------------

_GRAFANA_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and",
                       "or", "unless", "inf", "nan", "atan2"})


def grafana_to_promql(expr: str) -> str:
    """A dashboard expression as plain PromQL: `$__rate_interval` and friends become durations,
    any other template variable a match-all regex."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return _GRAFANA_DURATIONS.get(name, ".*")

    return _GRAFANA_VARIABLE.sub(value, expr)


def references(expr: str) -> Iterator[tuple[str, frozenset[str], frozenset[str]]]:
    """(series name, labels it matches on, labels the expression groups by) for each series the
    PromQL expression selects. Grouping labels are the whole expression's, whatever they apply to."""
    text = _RANGE.sub("", _STRING.sub('""', grafana_to_promql(expr)))
    grouping = frozenset(label.strip() for group in _GROUPING.findall(text) for label in group.split(",")
                         if label.strip())
    text = _GROUPING.sub(" ", text)
    for match in _SELECTOR.finditer(text):
        if match.group(1):
            yield match.group(1), frozenset(_MATCHER.findall(match.group(2))), grouping
    for name in _NAME.findall(_SELECTOR.sub(" ", text)):
        if name.lower() not in _KEYWORDS:
            yield name, frozenset(), grouping


def unknown_references(expr: str, known: dict[str, frozenset[str]]) -> list[str]:
    """What an expression uses that no gateway exports: series names, labels a series lacks, and
    grouping labels none of its series has."""
    catalog: dict[str, frozenset[str] | None] = {name: labels | TARGET_LABELS for name, labels in known.items()}
    catalog.update(PROMETHEUS_SERIES)
    used = list(references(expr))
    problems = {f"unknown series {name!r}" for name, _, _ in used if name not in catalog}
    for name, matchers, _ in used:
        labels = catalog.get(name)
        if labels is not None and (missing := matchers - labels):
            problems.add(f"{name} has no label {', '.join(sorted(missing))}")
    label_sets = [catalog.get(name, frozenset()) for name, _, _ in used]
    if used and all(labels is not None for labels in label_sets):
        available = frozenset().union(TARGET_LABELS, *(labels for labels in label_sets if labels is not None))
        if missing := used[0][2] - available:
            problems.add(f"grouping by {', '.join(sorted(missing))}, which none of its series has")
    return sorted(problems)


def check_exprs_with_promtool(exprs: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on the expressions as recording rules: promtool parses PromQL only there."""
    import yaml

    rules = [{"record": f"deploy_check:{re.sub(r'[^a-zA-Z0-9_]', '_', name)}", "expr": grafana_to_promql(expr)}
             for name, expr in exprs.items()]
    path = tmp_path / "exprs.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "deploy_check", "rules": rules}]}, sort_keys=False))
    return promtool("check", "rules", path)
