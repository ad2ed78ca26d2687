"""The deployment files as data, for the static checks of tests/unit/test_deploy_*.py and the
alert tests: docker-compose.yml, bufstream.yaml, the Dockerfile, Prometheus and Grafana.

`dashboard_metric_names()` is reusable: an integration test can compare it with a real scrape.
"""

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
BUFSTREAM = ROOT / "bufstream.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "ops" / "prometheus" / "prometheus.yml"
PROMETHEUS_LOCAL = ROOT / "ops" / "prometheus" / "prometheus.local.yml"
GRAFANA = ROOT / "ops" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "chinook-pipeline.json"

# The fixed metric names of docs/helpers-brief.md (what the services export).
COUNTERS_AND_GAUGES = {
    "chinook_producer_rows_captured_total",
    "chinook_producer_messages_published_total",
    "chinook_producer_delivery_errors_total",
    "chinook_producer_source_lag",
    "chinook_producer_dead_letters_total",
    "chinook_producer_healthy",
    "chinook_consumer_records_consumed_total",
    "chinook_consumer_objects_uploaded_total",
    "chinook_consumer_bytes_uploaded_total",
    "chinook_consumer_upload_retries_total",
    "chinook_consumer_upload_failures_total",
    "chinook_consumer_offsets_committed_total",
    "chinook_consumer_lag",
    "chinook_consumer_buffered_records",
    "chinook_consumer_decode_errors_total",
    "chinook_consumer_dead_letters_total",
    "chinook_consumer_assigned_partitions",
    "chinook_consumer_permanent_errors_total",
    "chinook_consumer_failing",
    "chinook_consumer_healthy",
    "chinook_consumer_table_commits_total",
    "chinook_consumer_table_rows_committed_total",
    "chinook_consumer_table_commit_failures_total",
    "chinook_consumer_table_data_files",
    "chinook_consumer_table_delete_files",
}
HISTOGRAMS = {
    "chinook_producer_delivery_latency_seconds",
    "chinook_consumer_upload_duration_seconds",
    "chinook_consumer_table_commit_duration_seconds",
}
# Sample names as they appear in a scrape: a histogram is exposed as _bucket, _sum and _count.
EXPORTED_SAMPLES = COUNTERS_AND_GAUGES | {
    histogram + suffix for histogram in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
}

LONG_RUNNING_RESTART = {"unless-stopped", "always"}
JOB_RESTART = re.compile(r"^(no|on-failure(:\d+)?)$")
KAFKA_PASSTHROUGH_PREFIX = "CHINOOK_KAFKA__"


def load_yaml(path: Path) -> Any:
    with path.open() as stream:
        return yaml.safe_load(stream)


def compose_services() -> dict[str, dict[str, Any]]:
    return load_yaml(COMPOSE)["services"]


def is_job(service: dict[str, Any]) -> bool:
    return bool(JOB_RESTART.match(str(service.get("restart", ""))))


def is_ours(service: dict[str, Any]) -> bool:
    return "build" in service


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def healthcheck_test(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def dashboard_metric_names() -> set[str]:
    """Every `chinook_*` sample name the Grafana dashboard queries, as a scrape exposes it
    (a histogram's `_bucket`, not its base name)."""
    return {
        name for expr in dashboard_exprs() for name in re.findall(r"\bchinook_[a-z0-9_]+", expr)
    }


def dashboard_targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel, target)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


AGGREGATION = re.compile(
    r"\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)"
    r"\s*(?:(by|without)\s*\(([^)]*)\))?\s*\("
)


def aggregation_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(`by` or `without` or "", its labels) of each aggregation in `expr`, in order."""
    return [
        (kind or "", {label.strip() for label in (labels or "").split(",") if label.strip()})
        for _, kind, labels in AGGREGATION.findall(expr)
    ]


def merges_sinks(expr: str) -> bool:
    """Whether an aggregation in `expr` adds series of different sinks together: every sink is a
    consumer group of its own that reads every change, so that would count a change per sink."""
    return any(
        not ((kind == "by" and "sink" in labels) or (kind == "without" and "sink" not in labels))
        for kind, labels in aggregation_labels(expr)
    )


def consumer_sinks() -> dict[str, str]:
    """{compose service running `consumer`: the sink it writes}, from its settings."""
    sinks = {}
    for name, service in compose_services().items():
        if is_ours(service) and service.get("command") == ["consumer"]:
            env = environment(service)
            if "CHINOOK_TABLE" in env:
                sinks[name] = "tables"
            else:
                sinks[name] = "parquet" if env.get("CHINOOK_FORMAT") == "parquet" else "objects"
    return sinks
