"""The services' metrics as Prometheus and Grafana see them: real producer and consumer processes
on the real broker and S3 server, scraped directly and by a real Prometheus server.

The Prometheus part needs `/usr/bin/prometheus` (Debian package `prometheus`, `make tools`).
"""

import json
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
from shared import names
from tests.conftest import Cli, wait_for
from tests.unit.test_deploy_static import PROMETHEUS_LOCAL, dashboard_metric_names

pytestmark = pytest.mark.slow


PRODUCER_JOB = "chinook-producer"
CONSUMER_JOB = "chinook-consumer"
PUBLISHED = names.PRODUCER_MESSAGES_PUBLISHED
CONSUMED = names.CONSUMER_RECORDS_CONSUMED


@dataclass
class Pipeline:
    """A running producer, consumer and writer; `producer_port`/`consumer_port` serve /metrics."""

    producer_port: int
    consumer_port: int
    logs: Path

    def metrics_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/metrics"

    def output(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()}" for log in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture()
def pipeline(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> Iterator[Pipeline]:
    """Producer and consumer as `chinook-pipeline` processes with metrics ports, plus a writer that
    keeps changing customers so that the counters keep rising."""
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "300")
    running = Pipeline(embedded.free_port(), embedded.free_port(), tmp_path)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            cli.spawn(
                "producer",
                "--db",
                str(db),
                "--bootstrap-servers",
                broker.bootstrap_servers,
                "--topic",
                topic,
                "--metrics-port",
                str(running.producer_port),
                log=tmp_path / "producer.log",
            )
        )
        processes.append(
            cli.spawn(
                "consumer",
                "--bootstrap-servers",
                broker.bootstrap_servers,
                "--topic",
                topic,
                "--bucket",
                bucket,
                "--group-id",
                f"{topic}-sink",
                "--flush-age",
                "0.5",
                "--metrics-port",
                str(running.consumer_port),
                log=tmp_path / "consumer.log",
            )
        )
        processes.append(
            cli.spawn("write", "--db", str(db), "--rate", "50", log=tmp_path / "writer.log")
        )
        yield running
    finally:
        for process in processes:
            embedded.stop(process)


def exported_samples(url: str) -> set[str]:
    return set(scrape(url))


def test_services_export_every_metric_the_dashboard_queries(pipeline: Pipeline) -> None:
    wanted = dashboard_metric_names()
    assert wanted, "the dashboard queries no chinook_* metric"
    urls = [
        pipeline.metrics_url(pipeline.producer_port),
        pipeline.metrics_url(pipeline.consumer_port),
    ]

    def missing() -> set[str]:
        exported = set().union(*(exported_samples(url) for url in urls))
        return wanted - exported

    # Labelled gauges (consumer lag per partition) appear once partitions are assigned.
    try:
        wait_for(
            lambda: not missing(), "every dashboard metric in the services' /metrics", timeout=90
        )
    except AssertionError:
        raise AssertionError(
            f"dashboard queries metrics the running services do not export: {sorted(missing())}\n"
            + pipeline.output()
        ) from None
    producer = exported_samples(urls[0])
    consumer = exported_samples(urls[1])
    assert all(
        name.startswith("chinook_producer_") for name in producer if name.startswith("chinook_")
    )
    assert all(
        name.startswith("chinook_consumer_") for name in consumer if name.startswith("chinook_")
    )


# --- a real Prometheus server ---------------------------------------------------------------


def prometheus_config(producer_port: int, consumer_port: int) -> dict[str, Any]:
    """ops/prometheus/prometheus.local.yml with the test's ports and a 1 s scrape interval."""
    config = yaml.safe_load(PROMETHEUS_LOCAL.read_text())
    config["global"].update(
        {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    )
    ports = {PRODUCER_JOB: producer_port, CONSUMER_JOB: consumer_port}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(ports) <= set(jobs), f"scrape jobs missing in {PROMETHEUS_LOCAL}: {sorted(jobs)}"
    jobs = {name: jobs[name] for name in ports}  # this pipeline runs no table consumer
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


def instant_value(base: str, expr: str) -> float | None:
    data = api(base, "/api/v1/query", query=expr)
    if not data or not data.get("result"):
        return None
    return float(data["result"][0]["value"][1])


@pytest.fixture()
def prometheus(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping the pipeline; yields its base URL."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.skip(
            "Prometheus server not installed: `make tools` installs the Debian package `prometheus`"
        )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(prometheus_config(pipeline.producer_port, pipeline.consumer_port))
    )
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


def test_prometheus_scrapes_both_services_and_sees_the_counters_rise(
    pipeline: Pipeline, prometheus: str
) -> None:
    def targets_up() -> dict[str, str] | None:
        data = api(prometheus, "/api/v1/targets", state="active")
        if not data:
            return None
        health = {target["labels"]["job"]: target["health"] for target in data["activeTargets"]}
        return health if health == {PRODUCER_JOB: "up", CONSUMER_JOB: "up"} else None

    try:
        wait_for(targets_up, "both scrape targets to be up", timeout=60)
    except AssertionError:
        raise AssertionError(
            f"targets: {api(prometheus, '/api/v1/targets')}\n{pipeline.output()}"
        ) from None

    for job, metric in ((PRODUCER_JOB, PUBLISHED), (CONSUMER_JOB, CONSUMED)):
        expr = f'sum({metric}{{job="{job}"}})'
        first = wait_for(lambda: value_above(prometheus, expr, 0.0), f"{metric} > 0 in Prometheus")
        wait_for(
            lambda: value_above(prometheus, expr, first),
            f"{metric} to rise past {first} in Prometheus",
        )


def value_above(base: str, expr: str, floor: float) -> float | None:
    """The query's value when it is above `floor` (a later scrape saw more), else None."""
    value = instant_value(base, expr)
    return value if value is not None and value > floor else None
