"""The alerting rules of ops/prometheus/alerts.yml: their promtool unit tests pass, each alert is
tested firing and silent, keeps sinks apart, queries only metrics the services export, and names
a dashboard panel that plots what it watches."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_files import DASHBOARD, EXPORTED_SAMPLES, load_yaml, merges_sinks

RULES_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
ALERTS = RULES_DIR / "alerts.yml"
ALERT_TESTS = RULES_DIR / "alerts.test.yml"
METRIC = re.compile(r"\b(chinook_[a-z0-9_]+|up)\b(?=\s*[{\[)=<>!]|\s*$)")


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed: `make tools` installs the Debian package `prometheus`")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, cwd=RULES_DIR, timeout=120
    )


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_promtool_tests() -> None:
    result = promtool("test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    tests = load_yaml(ALERT_TESTS)
    assert tests["rule_files"] == [ALERTS.name]
    cases = [case for test in tests["tests"] for case in test.get("alert_rule_test", [])]
    for rule in alert_rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']}: never seen firing"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']}: never seen silent"


def test_alert_names_are_unique_and_every_alert_says_what_and_how_bad() -> None:
    rules = alert_rules()
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description", "panel"} <= set(rule["annotations"]), rule["alert"]


def test_alerts_watch_what_the_brief_asks_for() -> None:
    watched = {name for rule in alert_rules() for name in METRIC.findall(rule["expr"])}
    assert {
        "chinook_consumer_lag",
        "up",
        "chinook_consumer_healthy",
        "chinook_producer_healthy",
        "chinook_consumer_assigned_partitions",
        "chinook_consumer_dead_letters_total",
        "chinook_producer_dead_letters_total",
        "chinook_consumer_upload_failures_total",
        "chinook_consumer_table_commit_failures_total",
        "chinook_producer_source_lag",
    } <= watched


def test_alerts_query_only_metrics_the_services_export() -> None:
    for rule in alert_rules():
        unknown = set(METRIC.findall(rule["expr"])) - EXPORTED_SAMPLES - {"up"}
        assert not unknown, f"{rule['alert']} queries metrics nobody exports: {sorted(unknown)}"


def test_no_consumer_alert_adds_two_sinks_together() -> None:
    for rule in alert_rules():
        if "chinook_consumer_" in rule["expr"]:
            assert not merges_sinks(rule["expr"]), f"{rule['alert']}: {rule['expr']}"


def test_every_alert_has_a_panel_that_plots_what_it_watches() -> None:
    panels = {panel["title"]: panel for panel in json.loads(DASHBOARD.read_text())["panels"]}
    for rule in alert_rules():
        title = rule["annotations"]["panel"]
        assert title in panels, f"{rule['alert']}: no panel {title!r} on the dashboard"
        plotted = {
            name for target in panels[title]["targets"] for name in METRIC.findall(target["expr"])
        }
        missing = set(METRIC.findall(rule["expr"])) - plotted
        assert not missing, f"{rule['alert']}: panel {title!r} does not plot {sorted(missing)}"
        assert rule["alert"] in panels[title]["description"], (
            f"panel {title!r} does not say it shows alert {rule['alert']}"
        )
