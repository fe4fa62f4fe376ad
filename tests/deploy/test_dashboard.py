"""deploy/grafana/revshare.json: a Grafana dashboard whose every query parses (promtool, as recording
rules) and uses only series and labels a gateway exports, and which shows every series."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.prometheus import (
    DASHBOARD,
    check_exprs_with_promtool,
    exported_series,
    references,
    series_by_family,
    unknown_references,
)

# issue 10's panels, by a word or two each title must contain.
REQUIRED_PANELS = [
    ("request rate", "route", "status class"), ("error ratio",), ("latency", "p50", "p99"),
    ("time to first token", "p50", "p99", "model"), ("time per output token",), ("tokens/s", "model", "type"),
    ("billed amount", "model", "currency"), ("refusals", "kind"), ("backlog", "intents outstanding"),
    ("commit latency", "p99"), ("batch size",), ("records committed/s",), ("log size",), ("pending",),
    ("checkpoint age",), ("engine queue depth",), ("engine queue wait",),
]


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed panels included; rows themselves hold no query."""
    for panel in board["panels"]:
        yield from panels(panel) if panel.get("panels") else ()
        if panel["type"] != "row":
            yield panel


def queries(board: dict[str, Any]) -> dict[str, str]:
    """Every PromQL expression of the dashboard: panels' targets, annotations, variables' label_values()."""
    exprs = {f"panel {p['id']} {t['refId']}": t["expr"] for p in panels(board) for t in p["targets"]}
    for annotation in board["annotations"]["list"]:
        if "expr" in annotation:
            exprs[f"annotation {annotation['name']}"] = annotation["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert match, f"variable {variable['name']}: only label_values(selector, label) is checked"
            exprs[f"variable {variable['name']}"] = f"count by ({match[2]}) ({match[1]})"
    return exprs


def test_it_is_a_grafana_dashboard_with_a_prometheus_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] == "revshare" and board["title"] == "revshare"
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_every_panel_has_a_title_a_query_and_a_unique_id() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels(board):
        assert panel.get("title"), f"panel {panel['id']} has no title"
        assert panel.get("targets"), f"{panel['title']}: no targets"
        for target in panel["targets"]:
            assert target.get("expr") and target.get("refId"), panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


@pytest.mark.parametrize("words", REQUIRED_PANELS, ids=lambda words: words[0])
def test_the_panels_issue_10_asks_for_are_there(words: tuple[str, ...]) -> None:
    titles = [p["title"].lower() for p in panels(dashboard())]
    assert any(all(word in title for word in words) for title in titles), f"no panel titled with {words}"


def test_every_query_uses_only_series_and_labels_the_gateway_exports() -> None:
    known = exported_series()
    problems = {where: found for where, expr in queries(dashboard()).items()
                if (found := unknown_references(expr, known))}
    assert problems == {}


def test_every_query_parses(tmp_path: Path) -> None:
    exprs = queries(dashboard())
    result = check_exprs_with_promtool(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_every_series_is_on_the_dashboard() -> None:
    used = {name for expr in queries(dashboard()).values() for name, _, _ in references(expr)}
    missing = sorted(family for family, names in series_by_family().items() if not names & used)
    assert missing == [], "series no panel shows: add a panel to deploy/grafana/revshare.json"
