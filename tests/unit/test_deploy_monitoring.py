"""Static checks of the Prometheus config, the alert rules' mounts and the Grafana dashboard
against the metrics the services export."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chinook_shared import names
from tests.deploy_files import (
    COUNTERS_AND_GAUGES,
    DASHBOARD,
    EXPORTED_SAMPLES,
    GRAFANA,
    HISTOGRAMS,
    PROMETHEUS,
    PROMETHEUS_LOCAL,
    aggregation_labels,
    compose_services,
    consumer_sinks,
    dashboard_exprs,
    dashboard_metric_names,
    dashboard_targets,
    environment,
    load_yaml,
    merges_sinks,
)

# --- Prometheus -----------------------------------------------------------------------------


@pytest.mark.parametrize("config", [PROMETHEUS, PROMETHEUS_LOCAL], ids=lambda p: p.name)
def test_promtool_accepts_the_prometheus_config(config: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus` provides it)")
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def scrape_jobs(path: Path) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in load_yaml(path)["scrape_configs"]}


def sink_label(job: dict[str, Any]) -> str | None:
    """The `sink` target label a scrape job sets on every series, if any."""
    values = [
        rule["replacement"]
        for rule in job.get("relabel_configs", [])
        if rule.get("target_label") == "sink" and rule.get("action", "replace") == "replace"
    ]
    assert len(values) <= 1, f"{job['job_name']}: sink set twice"
    return values[0] if values else None


def test_local_prometheus_config_has_the_same_jobs_labels_and_rules() -> None:
    """One design for compose and for services run on this machine: the same jobs, the same
    `sink` target labels, the same alerts (the dashboard then works on both)."""
    compose, local = scrape_jobs(PROMETHEUS), scrape_jobs(PROMETHEUS_LOCAL)
    assert set(compose) == set(local)
    for name, job in compose.items():
        assert job.get("relabel_configs") == local[name].get("relabel_configs"), name
    assert load_yaml(PROMETHEUS)["rule_files"] == load_yaml(PROMETHEUS_LOCAL)["rule_files"]


def test_prometheus_scrapes_every_replica_of_each_service_on_its_metrics_port() -> None:
    services = compose_services()
    jobs = scrape_jobs(PROMETHEUS)
    scraped = {
        service_name: job_name
        for job_name, job in jobs.items()
        for sd in job.get("dns_sd_configs", [])
        for service_name in sd["names"]
    }
    serving = {
        name
        for name, service in services.items()
        if environment(service).get("CHINOOK_METRICS_PORT")
    }
    assert set(scraped) == serving, "every service with a metrics port is scraped, and only those"
    assert scraped["producer"] == "chinook-producer"
    for service_name, job_name in scraped.items():
        (sd,) = jobs[job_name]["dns_sd_configs"]
        assert sd["names"] == [service_name] and sd["type"] == "A"
        assert str(sd["port"]) == environment(services[service_name])["CHINOOK_METRICS_PORT"]
    mounts = services["prometheus"]["volumes"]
    assert "./ops/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def test_every_consumer_job_labels_its_series_with_the_sink_it_writes() -> None:
    """Each sink is a group of its own reading every change: its series must carry which, so
    that no dashboard or alert adds two sinks together."""
    jobs = scrape_jobs(PROMETHEUS)
    by_service = {sd["names"][0]: job for job in jobs.values() for sd in job["dns_sd_configs"]}
    sinks = consumer_sinks()
    assert sorted(sinks.values()) == ["objects", "parquet", "tables"], sinks
    for service_name, sink in sinks.items():
        assert sink_label(by_service[service_name]) == sink, service_name
    assert sink_label(jobs["chinook-producer"]) is None, "the producer is no sink"


def test_compose_loads_the_alert_rules_where_the_config_names_them() -> None:
    mounts = compose_services()["prometheus"]["volumes"]
    config_dir = "/etc/prometheus"
    for rule_file in load_yaml(PROMETHEUS)["rule_files"]:
        assert "*" not in rule_file and not rule_file.startswith("/"), rule_file
        assert (PROMETHEUS.parent / rule_file).is_file(), rule_file
        assert f"./ops/prometheus/{rule_file}:{config_dir}/{rule_file}:ro" in mounts, rule_file


def test_the_metric_names_the_code_reads_are_the_fixed_ones() -> None:
    """Services, `dev`, `bench` and tests take the names from shared/names.py; this is the
    contract they must keep (dashboards and alerts query them)."""
    declared = {
        value for name, value in vars(names).items() if name.startswith(("PRODUCER_", "CONSUMER_"))
    }
    assert declared == COUNTERS_AND_GAUGES | HISTOGRAMS


# --- Grafana --------------------------------------------------------------------------------


def test_dashboard_queries_only_metrics_the_services_export() -> None:
    unknown = dashboard_metric_names() - EXPORTED_SAMPLES
    assert not unknown, f"dashboard queries metrics nobody exports: {sorted(unknown)}"


def test_no_dashboard_query_adds_two_sinks_together() -> None:
    for panel, target in dashboard_targets():
        if "chinook_consumer_" in target["expr"]:
            assert not merges_sinks(target["expr"]), f"{panel['title']}: {target['expr']}"
            legend = target.get("legendFormat", "")
            assert "{{sink}}" in legend or "{{table}}" in legend, (
                f"{panel['title']}: the legend {legend!r} does not say which sink"
            )


def test_throughput_counts_each_change_once_per_sink() -> None:
    """A sink's replicas share its partitions and add up; different sinks stay apart."""
    (consumed,) = [
        target["expr"]
        for panel, target in dashboard_targets()
        if panel["title"] == "Throughput" and names.CONSUMER_RECORDS_CONSUMED in target["expr"]
    ]
    assert aggregation_labels(consumed) == [("by", {"sink"})], consumed


def test_merges_sinks_tells_apart_the_aggregations_that_keep_sink() -> None:
    assert merges_sinks("sum(rate(chinook_consumer_records_consumed_total[1m]))")
    assert merges_sinks("max by (partition) (chinook_consumer_lag)")
    assert merges_sinks("sum without (sink) (chinook_consumer_lag)")
    assert not merges_sinks("max by (sink, partition) (chinook_consumer_lag)")
    assert not merges_sinks("sum without (instance) (chinook_consumer_lag)")
    assert not merges_sinks("histogram_quantile(0.5, sum by (sink, le) (rate(x_bucket[1m])))")
    assert not merges_sinks("chinook_consumer_assigned_partitions == 0")


def test_dashboard_shows_throughput_lag_latency_retries_errors_and_dead_letters() -> None:
    required = {
        "chinook_producer_messages_published_total",
        "chinook_consumer_records_consumed_total",
        "chinook_consumer_lag",
        "chinook_consumer_upload_duration_seconds_bucket",
        "chinook_consumer_upload_retries_total",
        "chinook_producer_delivery_errors_total",
        "chinook_consumer_upload_failures_total",
        "chinook_consumer_decode_errors_total",
        "chinook_producer_dead_letters_total",
        "chinook_consumer_dead_letters_total",
        "chinook_producer_source_lag",
        "chinook_consumer_table_commits_total",
        "chinook_consumer_table_rows_committed_total",
        "chinook_consumer_table_commit_duration_seconds_bucket",
        "chinook_consumer_table_commit_failures_total",
    }
    assert required <= dashboard_metric_names()
    for expr in dashboard_exprs():
        if "_bucket" in expr:
            assert expr.startswith("histogram_quantile("), expr


def test_grafana_provisions_the_datasource_the_dashboard_uses() -> None:
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        json.dumps(item["datasource"], sort_keys=True)
        for panel in dashboard["panels"]
        for item in [panel, *panel.get("targets", [])]
    }
    assert used == {json.dumps({"type": "prometheus", "uid": datasource["uid"]}, sort_keys=True)}


def test_grafana_loads_the_dashboard_from_where_compose_mounts_it() -> None:
    (provider,) = load_yaml(GRAFANA / "provisioning" / "dashboards" / "chinook.yml")["providers"]
    mounts = compose_services()["grafana"]["volumes"]
    assert f"./ops/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./ops/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
