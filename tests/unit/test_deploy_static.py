"""Static checks of the deployment files: docker-compose.yml, bufstream.yaml, the Dockerfile,
Prometheus and Grafana. No Docker engine is needed; every check reads the files as they are.

`dashboard_metric_names()` is reusable: an integration test can compare it with a real scrape.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from shared import names

ROOT = Path(__file__).resolve().parents[2]
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


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_image_is_pinned() -> None:
    for name, service in compose_services().items():
        image = service.get("image")
        if image is None:
            assert is_ours(service), f"{name}: neither image nor build"
            continue
        reference = image.rsplit("/", 1)[-1]
        assert "@sha256:" in reference or ":" in reference, f"{name}: image {image} has no tag"
        tag = reference.split("@", 1)[0].partition(":")[2]
        assert tag and tag != "latest", f"{name}: image {image} is not pinned"


def test_our_image_is_built_here() -> None:
    ours = [name for name, service in compose_services().items() if is_ours(service)]
    assert {"producer", "consumer", "seed", "bucket-setup", "writer"} <= set(ours)
    for name in ours:
        build = compose_services()[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context / "Dockerfile").is_file(), f"{name}: no Dockerfile in {context}"


def test_every_service_is_either_long_running_or_a_job() -> None:
    for name, service in compose_services().items():
        restart = str(service.get("restart", ""))
        assert restart in LONG_RUNNING_RESTART or JOB_RESTART.match(restart), (
            f"{name}: restart {restart!r} is neither a service's (unless-stopped) nor a job's (no, on-failure)"
        )


def test_long_running_services_have_a_healthcheck() -> None:
    for name, service in compose_services().items():
        if is_job(service):
            continue
        healthcheck = service.get("healthcheck", {})
        assert not healthcheck.get("disable"), f"{name}: healthcheck disabled"
        assert healthcheck.get("test"), f"{name}: no healthcheck"


def test_dependencies_wait_for_health_or_completion() -> None:
    services = compose_services()
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends_on.items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            expected = (
                "service_completed_successfully"
                if is_job(services[dependency])
                else "service_healthy"
            )
            assert spec.get("condition") == expected, f"{name} -> {dependency}: want {expected}"


def test_jobs_are_waited_for_as_one_shots() -> None:
    services = compose_services()
    jobs = {name for name, service in services.items() if is_job(service)}
    assert {"bucket-setup", "seed", "bufstream-bucket"} <= jobs
    for name in jobs:
        assert "deploy" not in services[name], f"{name}: a one-shot job is not replicated"


def test_our_services_run_read_only_as_non_root() -> None:
    for name, service in compose_services().items():
        if not is_ours(service):
            continue
        assert service.get("read_only") is True, f"{name}: root filesystem not read-only"
        tmpfs = service.get("tmpfs", [])
        assert "/tmp" in ([tmpfs] if isinstance(tmpfs, str) else tmpfs), f"{name}: no tmpfs /tmp"
        user = str(service.get("user", "")).split(":")[0]
        assert user and user not in {"0", "root"}, f"{name}: runs as root"


def test_metrics_endpoints_are_reachable_and_health_checked() -> None:
    for name, service in compose_services().items():
        port = environment(service).get("CHINOOK_METRICS_PORT")
        if port is None:
            continue
        assert environment(service).get("CHINOOK_METRICS_HOST") == "0.0.0.0", (
            f"{name}: metrics bound to loopback only; Prometheus cannot scrape it"
        )
        test = healthcheck_test(service)
        assert f"http://127.0.0.1:{port}/healthz" in test, f"{name}: healthcheck misses /healthz"
        assert "curl" not in test and "wget" not in test, f"{name}: our image has no curl or wget"


def test_s3_clients_get_the_minio_endpoint_and_local_credentials() -> None:
    services = compose_services()
    minio = environment(services["minio"])
    for name in ("bucket-setup", "consumer", "consumer-tables"):
        env = environment(services[name])
        assert env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000", name
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"], name


def test_consumer_runs_two_replicas_of_one_group() -> None:
    consumer = compose_services()["consumer"]
    assert consumer["deploy"]["replicas"] == 2
    assert environment(consumer)["CHINOOK_GROUP_ID"]
    assert "ports" not in consumer, "published ports would clash between replicas"
    assert "container_name" not in consumer, "a fixed container name cannot be replicated"


def test_table_consumer_writes_both_tables_to_its_own_catalog_database_and_bucket() -> None:
    services = compose_services()
    tables = services["consumer-tables"]
    env = environment(tables)
    assert env["CHINOOK_GROUP_ID"] not in {
        environment(services[name]).get("CHINOOK_GROUP_ID")
        for name in services
        if name != "consumer-tables"
    }, "a group of its own: another group's members would split the records with it"
    assert env["CHINOOK_TABLE"] and env["CHINOOK_STATE_TABLE"]
    uri = urlsplit(env["CHINOOK_CATALOG_URI"])
    postgres = environment(services["postgres"])
    assert uri.scheme.startswith("postgresql") and uri.hostname == "postgres"
    assert (uri.username, uri.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    database = uri.path.lstrip("/")
    assert database != postgres["POSTGRES_DB"], "Bufstream's metadata database is not the catalog's"
    created = " ".join(services["lake-catalog-db"]["command"])
    assert f"createdb {database}" in created and f"datname = '{database}'" in created, created
    warehouse = urlsplit(env["CHINOOK_WAREHOUSE"])
    assert warehouse.scheme == "s3" and "CHINOOK_BUCKET" not in env, "tables need no --bucket"
    assert f"local/{warehouse.netloc}" in " ".join(services["lake-bucket"]["command"])
    assert warehouse.netloc != environment(services["consumer"])["CHINOOK_BUCKET"], (
        "table files in the objects' bucket would be read by verify"
    )
    for job in ("lake-bucket", "lake-catalog-db"):
        assert tables["depends_on"][job]["condition"] == "service_completed_successfully"


def test_writer_only_runs_under_its_profile() -> None:
    assert compose_services()["writer"]["profiles"] == ["writer"]


def test_seed_only_creates_the_database_when_absent() -> None:
    script = " ".join(compose_services()["seed"]["command"])
    assert script.startswith("test -f /data/chinook.db ||"), script
    assert "chinook-pipeline seed" in script


def operations_section(title: str) -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_the_docker_docs_name_every_service_and_metrics_port() -> None:
    """docs/docker.md lists each service in its table and each metrics port; the Docker section
    of docs/operations.md names each job, each extra sink's service and each metrics port."""
    guide = (ROOT / "docs" / "docker.md").read_text()
    section = operations_section("Run with Docker")
    sinks = consumer_sinks()
    for name, service in compose_services().items():
        assert f"| `{name}`" in guide, f"docs/docker.md: no row for the service {name}"
        if is_job(service) or (name in sinks and name != "consumer"):
            assert f"`{name}`" in section, f"docs/operations.md, Run with Docker: {name} not named"
        port = environment(service).get("CHINOOK_METRICS_PORT")
        if port:
            assert f"{name}:{port}" in guide or f"| {port} | `{name}`" in guide, (
                f"docs/docker.md: {name}'s metrics port {port} not given"
            )
            assert f":{port}" in section, (
                f"docs/operations.md, Run with Docker: port {port} not given"
            )


# --- compose <-> CLI ------------------------------------------------------------------------


def cli_command(args: list[str]) -> tuple[list[click.Command], list[str]]:
    """The chain of click commands (group first) that `chinook-pipeline ARGS` runs."""
    from chinook_pipeline.cli.main import cli  # the CLI is the source of truth for option names

    chain: list[click.Command] = [cli]
    rest = list(args)
    while isinstance(chain[-1], click.Group) and rest and not rest[0].startswith("-"):
        sub = chain[-1].commands.get(rest[0])
        if sub is None:
            break
        chain.append(sub)
        rest.pop(0)
    return chain, rest


def envvars(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        value = getattr(param, "envvar", None)
        if isinstance(value, str):
            names.add(value)
        elif value:
            names.update(value)
    return names


def services_running_our_cli() -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    for name, service in compose_services().items():
        if not is_ours(service) or service.get("entrypoint"):
            continue
        command = service.get("command", [])
        yield name, service, shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_runs_real_cli_commands() -> None:
    for name, _, args in services_running_our_cli():
        chain, rest = cli_command(args)
        assert len(chain) > 1 and not isinstance(chain[-1], click.Group), (
            f"{name}: `chinook-pipeline {' '.join(args)}` is not a command of the CLI"
        )
        context = chain[-1].make_context(chain[-1].name or name, rest, resilient_parsing=True)
        assert not context.args, f"{name}: unexpected arguments {context.args}"


def test_every_chinook_variable_in_compose_is_an_option_the_cli_reads() -> None:
    for name, service, args in services_running_our_cli():
        chain, _ = cli_command(args)
        known = set().union(*(envvars(command) for command in chain))
        takes_kafka_properties = any(
            param.name == "kafka_property" for command in chain for param in command.params
        )
        for variable in environment(service):
            if not variable.startswith("CHINOOK_"):
                continue
            if variable.startswith(KAFKA_PASSTHROUGH_PREFIX):
                assert takes_kafka_properties, f"{name}: {variable} but no Kafka properties here"
                continue
            assert variable in known, (
                f"{name}: compose sets {variable}, which `chinook-pipeline "
                f"{' '.join(command.name or '' for command in chain[1:])}` does not read; "
                f"it reads {sorted(known)}"
            )


def test_chinook_variables_only_go_to_services_running_the_cli() -> None:
    running = {name for name, _, _ in services_running_our_cli()}
    for name, service in compose_services().items():
        if name in running:
            continue
        stray = [v for v in environment(service) if v.startswith("CHINOOK_")]
        assert not stray, f"{name}: {stray} would not be checked against the CLI"


# --- bufstream.yaml -------------------------------------------------------------------------


def test_bufstream_config_has_the_documented_v1beta1_keys() -> None:
    config = load_yaml(BUFSTREAM)
    assert config["version"] == "v1beta1"
    s3 = config["data"]["s3"]
    assert s3["uri"] == "s3://bufstream/"
    assert s3["region"]
    assert s3["endpoint"] == "http://minio:9000"
    assert s3["force_path_style"] is True
    minio = environment(compose_services()["minio"])
    assert s3["access_key_id"]["string"] == minio["MINIO_ROOT_USER"]
    assert s3["secret_access_key"]["string"] == minio["MINIO_ROOT_PASSWORD"]


def test_bufstream_metadata_is_the_postgres_service() -> None:
    dsn = urlsplit(load_yaml(BUFSTREAM)["metadata"]["postgres"]["string"])
    postgres = environment(compose_services()["postgres"])
    assert dsn.scheme in {"postgres", "postgresql"}
    assert (dsn.hostname, dsn.port or 5432) == ("postgres", 5432)
    assert dsn.username == postgres["POSTGRES_USER"]
    assert dsn.password == postgres["POSTGRES_PASSWORD"]
    assert dsn.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_bufstream_advertises_its_compose_name() -> None:
    listeners = load_yaml(BUFSTREAM)["kafka"]["listeners"]
    advertised = {listener["advertise_address"] for listener in listeners}
    bootstrap = {
        environment(service)["CHINOOK_BOOTSTRAP_SERVERS"]
        for service in compose_services().values()
        if "CHINOOK_BOOTSTRAP_SERVERS" in environment(service)
    }
    assert bootstrap == {"bufstream:9092"}
    assert advertised == bootstrap


def test_bufstream_service_serves_this_config_with_its_bucket_ready() -> None:
    services = compose_services()
    bufstream = services["bufstream"]
    assert bufstream["image"].startswith("bufbuild/bufstream:")
    assert bufstream["command"] == ["serve", "--config", "/bufstream.yaml"]
    assert "./bufstream.yaml:/bufstream.yaml:ro" in bufstream["volumes"]
    assert int(environment(bufstream)["BUFSTREAM_AVAILABLE_MEMORY"]) == 1024**3
    assert "admin status --exit-code --url http://127.0.0.1:9089" in healthcheck_test(bufstream)
    bucket_job = " ".join(services["bufstream-bucket"]["command"])
    assert "mc mb --ignore-existing local/bufstream" in bucket_job
    assert set(bufstream["depends_on"]) == {"postgres", "bufstream-bucket"}


# --- Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_a_small_non_root_image() -> None:
    instructions = dockerfile_instructions()
    (base,) = [arg for op, arg in instructions if op == "FROM"]
    assert re.fullmatch(r"python:3\.11[\w.]*-slim-bookworm", base), base
    assert any(op == "RUN" and "pip install --no-cache-dir ." in arg for op, arg in instructions)
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    (healthcheck,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib.request" in healthcheck
    assert ("ENTRYPOINT", '["chinook-pipeline"]') in instructions


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".git", ".venv", "tests", "data"} <= ignored
    for op, arg in dockerfile_instructions():
        if op != "COPY":
            continue
        *sources, _ = arg.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
            assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


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
