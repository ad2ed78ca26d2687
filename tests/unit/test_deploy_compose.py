"""Static checks of docker-compose.yml and of the CLI commands and variables it runs; no Docker engine
is needed, every check reads the file as it is."""

import shlex
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import click

from tests.deploy_files import (
    COMPOSE,
    JOB_RESTART,
    KAFKA_PASSTHROUGH_PREFIX,
    LONG_RUNNING_RESTART,
    ROOT,
    compose_services,
    consumer_sinks,
    environment,
    healthcheck_test,
    is_job,
    is_ours,
)

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
