"""deploy/prometheus: the alert rules are valid, pass their promtool unit tests, use only series and
labels a gateway exports, and the example scrape config loads them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.prometheus import ALERTS, ALERTS_TEST, EXAMPLE_CONFIG, exported_series, promtool, unknown_references

# What issue 10 asks an operator to be told about, by the alert that says it.
REQUIRED_ALERTS = {
    "RevshareLedgerBacklogHigh", "RevshareLedgerBacklogGrowing",  # records piling up unwritten
    "RevshareLogCheckpointStale",  # checkpoint older than 5 intervals
    "RevshareLogAuditFailure",  # the ledger no longer matches what a log signed
    "RevshareHighErrorRate", "RevshareHighLatencyP99",
    "RevshareEngineErrorsRising", "RevshareLedgerUnavailableRefusals", "RevshareGatewayDown",
}
SEVERITIES = {"critical", "warning"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    result = promtool("test", "rules", ALERTS_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_example_scrape_config_checks_and_loads_the_rules() -> None:
    result = promtool("check", "config", EXAMPLE_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == ["revshare"]
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"


def test_the_required_alerts_exist_with_a_severity_and_an_explanation() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    assert REQUIRED_ALERTS - set(names) == set()
    for rule in rules:
        assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
        annotations = rule.get("annotations", {})
        assert len(annotations.get("summary", "")) > 20, f"{rule['alert']}: no summary"
        assert len(annotations.get("description", "")) > 60, f"{rule['alert']}: no description"


def test_every_alert_has_a_unit_test() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    names = {rule["alert"] for rule in alert_rules()}
    assert names - tested == set(), "alerts without a unit test in alerts_test.yml"
    assert names - fired == set(), "alerts no unit test makes fire"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_rules_use_only_series_and_labels_the_gateway_exports(rule: dict[str, Any]) -> None:
    assert unknown_references(rule["expr"], exported_series()) == []
