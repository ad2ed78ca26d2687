"""The services' metrics as Prometheus and Grafana see them: a real producer, an object consumer
and a table consumer on the real broker and S3 server, scraped directly and by a real Prometheus
server that loads the alert rules; the dashboard's throughput counts each change once per sink.

The Prometheus part needs `/usr/bin/prometheus` (Debian package `prometheus`, `make tools`).
"""

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.scrape import scrape
from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.deploy_files import (
    PROMETHEUS_LOCAL,
    dashboard_metric_names,
    dashboard_targets,
)
from tests.table_cli import CHANGES, STATE, catalog_uri, table_options
from tests.unit.test_alerts import alert_rules

pytestmark = pytest.mark.slow


PRODUCER_JOB = "chinook-producer"
CONSUMER_JOB = "chinook-consumer"
TABLES_JOB = "chinook-consumer-tables"
SINKS = {CONSUMER_JOB: "objects", TABLES_JOB: "tables"}  # this pipeline runs no Parquet sink
PUBLISHED = names.PRODUCER_MESSAGES_PUBLISHED
CONSUMED = names.CONSUMER_RECORDS_CONSUMED


@dataclass
class Pipeline:
    """A running producer, object consumer, table consumer and writer; `ports` maps each scrape
    job to the port its service serves /metrics on."""

    ports: dict[str, int]
    writer: subprocess.Popen[bytes]
    logs: Path

    def metrics_url(self, job: str) -> str:
        return f"http://127.0.0.1:{self.ports[job]}/metrics"

    def output(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()}" for log in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture()
def pipeline(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> Iterator[Pipeline]:
    """The services as `chinook-pipeline` processes with metrics ports, plus a writer that keeps
    changing customers so that the counters keep rising."""
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "300")
    ports = {job: embedded.free_port() for job in (PRODUCER_JOB, CONSUMER_JOB, TABLES_JOB)}
    kafka_args = ("--bootstrap-servers", broker.bootstrap_servers, "--topic", topic)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for job, args in (
            (PRODUCER_JOB, ("producer", *kafka_args, "--db", str(db))),
            (
                CONSUMER_JOB,
                ("consumer", *kafka_args, "--bucket", bucket, "--group-id", f"{topic}-sink"),
            ),
            (
                TABLES_JOB,
                (
                    "consumer",
                    *kafka_args,
                    *table_options(catalog_uri(tmp_path), bucket),
                    "--group-id",
                    f"{topic}-tables",
                ),
            ),
        ):
            flush = ("--flush-age", "0.5") if args[0] == "consumer" else ()
            processes.append(
                cli.spawn(
                    *args,
                    *flush,
                    "--metrics-port",
                    str(ports[job]),
                    log=tmp_path / f"{job}.log",
                )
            )
        writer = cli.spawn("write", "--db", str(db), "--rate", "50", log=tmp_path / "writer.log")
        processes.append(writer)
        yield Pipeline(ports, writer, tmp_path)
    finally:
        for process in processes:
            embedded.stop(process)


def exported_samples(url: str) -> set[str]:
    return set(scrape(url))


def test_services_export_every_metric_the_dashboard_queries(pipeline: Pipeline) -> None:
    wanted = dashboard_metric_names()
    assert wanted, "the dashboard queries no chinook_* metric"
    urls = {job: pipeline.metrics_url(job) for job in pipeline.ports}

    def missing() -> set[str]:
        exported = set().union(*(exported_samples(url) for url in urls.values()))
        return wanted - exported

    # Labelled gauges (consumer lag per partition) appear once partitions are assigned, the
    # table commit histogram once a first commit is made.
    try:
        wait_for(
            lambda: not missing(), "every dashboard metric in the services' /metrics", timeout=90
        )
    except AssertionError:
        raise AssertionError(
            f"dashboard queries metrics the running services do not export: {sorted(missing())}\n"
            + pipeline.output()
        ) from None
    for job, url in urls.items():
        prefix = "chinook_producer_" if job == PRODUCER_JOB else "chinook_consumer_"
        exported = exported_samples(url)
        assert all(name.startswith(prefix) for name in exported if name.startswith("chinook_"))
    assert names.PRODUCER_HEALTHY in exported_samples(urls[PRODUCER_JOB])


# --- a real Prometheus server ---------------------------------------------------------------


def prometheus_config(ports: dict[str, int]) -> dict[str, Any]:
    """ops/prometheus/prometheus.local.yml with the test's ports, its alert rules by absolute
    path and a 1 s scrape and evaluation interval."""
    config = yaml.safe_load(PROMETHEUS_LOCAL.read_text())
    config["global"].update(
        {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    )
    config["rule_files"] = [str(PROMETHEUS_LOCAL.parent / path) for path in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(ports) <= set(jobs), f"scrape jobs missing in {PROMETHEUS_LOCAL}: {sorted(jobs)}"
    jobs = {name: jobs[name] for name in ports}
    config["scrape_configs"] = list(jobs.values())
    for name, job in jobs.items():
        (static,) = job["static_configs"]
        assert len(static["targets"]) == 1, f"{name}: one local target expected"
        static["targets"] = [f"127.0.0.1:{ports[name]}"]
    return config


def api(base: str, path: str, **query: str) -> Any:
    """The `data` of a Prometheus HTTP API answer, or None while it is not answering."""
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return body.get("data") if body.get("status") == "success" else None


def instant_vector(base: str, expr: str) -> list[tuple[dict[str, str], float]]:
    data = api(base, "/api/v1/query", query=expr)
    return [(item["metric"], float(item["value"][1])) for item in (data or {}).get("result", [])]


def instant_value(base: str, expr: str) -> float | None:
    vector = instant_vector(base, expr)
    return vector[0][1] if vector else None


@pytest.fixture()
def prometheus(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping the pipeline; yields its base URL."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.skip(
            "Prometheus server not installed: `make tools` installs the Debian package `prometheus`"
        )
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(pipeline.ports)))
    port = embedded.free_port()
    log = tmp_path / "prometheus.out"
    process = embedded.spawn(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is not None or embedded.http_ok(f"{base}/-/ready"),
            "Prometheus to be ready",
            timeout=60,
        )
        assert process.poll() is None, f"prometheus exited {process.returncode}:\n{log.read_text()}"
        yield base
    finally:
        embedded.stop(process)


def stored(expr: str) -> str:
    """A dashboard query over counters, on the counters themselves: `rate(X[...])` -> `X`."""
    return re.sub(r"\brate\((\w+)\[\$__rate_interval\]\)", r"\1", expr)


def test_prometheus_scrapes_every_service_counts_each_change_once_per_sink_and_runs_the_alerts(
    pipeline: Pipeline, prometheus: str
) -> None:
    def targets_up() -> dict[str, str] | None:
        data = api(prometheus, "/api/v1/targets", state="active")
        if not data:
            return None
        health = {target["labels"]["job"]: target["health"] for target in data["activeTargets"]}
        return health if health == dict.fromkeys(pipeline.ports, "up") else None

    try:
        wait_for(targets_up, "every scrape target to be up", timeout=60)
    except AssertionError:
        raise AssertionError(
            f"targets: {api(prometheus, '/api/v1/targets')}\n{pipeline.output()}"
        ) from None

    for job, metric in (
        (PRODUCER_JOB, PUBLISHED),
        (CONSUMER_JOB, CONSUMED),
        (TABLES_JOB, CONSUMED),
    ):
        expr = f'sum({metric}{{job="{job}"}})'
        first = wait_for(lambda: value_above(prometheus, expr, 0.0), f"{metric} > 0 in Prometheus")
        wait_for(
            lambda: value_above(prometheus, expr, first),
            f"{metric} of {job} to rise past {first} in Prometheus",
        )

    def rules_evaluated() -> set[str] | None:
        data = api(prometheus, "/api/v1/rules", type="alert")
        rules = [rule for group in (data or {}).get("groups", []) for rule in group["rules"]]
        if not rules or any(rule["health"] != "ok" for rule in rules):
            return None
        return {rule["name"] for rule in rules}

    loaded = wait_for(rules_evaluated, "every alert rule evaluated without error", timeout=30)
    assert loaded == {rule["alert"] for rule in alert_rules()}

    # Stop the changes; once the pipeline is idle, each sink has read each change exactly once.
    embedded.stop(pipeline.writer)
    (consumed,) = [
        stored(target["expr"])
        for panel, target in dashboard_targets()
        if panel["title"] == "Throughput" and CONSUMED in target["expr"]
    ]
    rows = f"sum by (sink, table) ({names.CONSUMER_TABLE_ROWS})"

    def once_per_sink() -> bool:
        published = instant_value(prometheus, f"sum({PUBLISHED})")
        by_sink = {
            labels.get("sink"): value for labels, value in instant_vector(prometheus, consumed)
        }
        by_table = {
            labels.get("table"): value for labels, value in instant_vector(prometheus, rows)
        }
        return (
            published is not None
            and by_sink == dict.fromkeys(SINKS.values(), published)
            and by_table == dict.fromkeys((CHANGES, STATE), published)
        )

    try:
        wait_for(once_per_sink, "each sink (and table) to hold each published change once", 90)
    except AssertionError:
        raise AssertionError(
            f"published {instant_value(prometheus, f'sum({PUBLISHED})')}, "
            f"by sink {instant_vector(prometheus, consumed)}, by table "
            f"{instant_vector(prometheus, rows)}\n{pipeline.output()}"
        ) from None
    firing = instant_vector(prometheus, 'ALERTS{alertstate="firing"}')
    assert not firing, f"alerts firing on a healthy pipeline: {firing}"


def value_above(base: str, expr: str, floor: float) -> float | None:
    """The query's value when it is above `floor` (a later scrape saw more), else None."""
    value = instant_value(base, expr)
    return value if value is not None and value > floor else None
