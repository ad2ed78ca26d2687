"""`chinook-pipeline`: one entry point for the services, the tools and the embedded default.

Precedence of every option: flag > `CHINOOK_<NAME>` environment variable > config file
(`--config`, TOML) > default.
"""

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chinook_consumer.settings import ConsumerSettings
from chinook_pipeline.bench.run import bench
from chinook_pipeline.cli.options import build, option, options_from, where
from chinook_pipeline.cli.service_settings import ServiceSettings
from chinook_pipeline.config_file import (
    KAFKA_TABLE,
    default_map,
    kafka_properties,
    read_config_file,
)
from chinook_pipeline.local.profile import PROFILE, apply_environment, read_profile, served
from chinook_pipeline.local.settings import DevSettings
from chinook_pipeline.tools.settings import (
    BucketSetupSettings,
    MaintainSettings,
    QuerySettings,
    SeedSettings,
    TableVerifySettings,
    VerifySettings,
    WriteSettings,
)
from chinook_producer.settings import ProducerSettings
from chinook_shared import logs
from chinook_shared.errors import PipelineError
from chinook_shared.iceberg.settings import CatalogSettings
from chinook_shared.kafka import KafkaSettings, redact
from chinook_shared.s3 import S3Settings, make_client

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)


class BadValue(click.ClickException):
    """A value click or a setting's definition rejected: one line, exit 2 like any usage error."""

    exit_code = 2


class PipelineGroup(click.Group):
    """Turns PipelineError and bad option values into one `Error: ...` line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PipelineError as error:
            raise click.ClickException(str(error)) from None
        except click.BadParameter as error:
            if isinstance(error, click.MissingParameter):
                raise  # with the usage lines, which list what is needed
            raise BadValue(f"{where(error)}: {error.message}") from None


@click.group(cls=PipelineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file: top-level keys for every command, [producer]/[consumer]/... tables "
    "per command, a [kafka] table of librdkafka properties.",
)
@click.version_option(package_name="chinook-pipeline")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Move Chinook customers from SQLite through a Kafka-compatible log into S3."""
    document = read_config_file(config) if config else _local_profile(ctx.invoked_subcommand)
    apply_environment(document)
    ctx.obj = {"kafka_table": document.get(KAFKA_TABLE, {})}
    if document:
        ctx.default_map = _nest(default_map(document, _command_options(cli)))


def _local_profile(command: str | None) -> dict[str, Any]:
    """The profile of a `chinook-pipeline dev` running in this folder, for the commands it
    serves (chinook_pipeline/local/profile.py); a line on stderr says so."""
    document, pid = read_profile(PROFILE)
    if command not in served(document):
        return {}
    if pid is None:
        click.echo(
            f"ignoring {PROFILE}: the `chinook-pipeline dev` that wrote it has stopped", err=True
        )
        return {}
    click.echo(
        f"using the local stack of `chinook-pipeline dev` (pid {pid}) from {PROFILE}", err=True
    )
    return document


def _command_options(group: click.Group, prefix: str = "") -> dict[str, list[str]]:
    """{"producer": [...], "bucket setup": [...]}: every command's option names."""
    found: dict[str, list[str]] = {}
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(_command_options(command, f"{full} "))
        else:
            found[full] = [p.name for p in command.params if p.name]
    return found


def _nest(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{"bucket setup": {...}} -> {"bucket": {"setup": {...}}}, the shape click expects."""
    nested: dict[str, Any] = {}
    for name, values in flat.items():
        *groups, leaf = name.split(" ")
        target = nested
        for group in groups:
            target = target.setdefault(group, {})
        target[leaf] = values
    return nested


kafka_property_option = option(
    "--kafka-property",
    "kafka_property",
    multiple=True,
    metavar="KEY=VALUE",
    envvar=None,
    show_envvar=False,
    help="Any librdkafka property, repeatable. Also CHINOOK_KAFKA__<NAME> (e.g. "
    "CHINOOK_KAFKA__LINGER_MS) and a [kafka] table in the config file.",
)


def kafka_settings(ctx: click.Context, params: dict[str, Any]) -> KafkaSettings:
    """The connection settings from the options, with the pass-through librdkafka properties."""
    extra = kafka_properties(
        (ctx.obj or {}).get("kafka_table", {}), os.environ, params.get("kafka_property", ())
    )
    return build(KafkaSettings, params, extra=extra)


def s3_client(params: dict[str, Any]) -> Any:
    return make_client(build(S3Settings, params))


@cli.command()
@options_from(ProducerSettings)
@kafka_property_option
@options_from(ServiceSettings)
@click.pass_context
def producer(ctx: click.Context, **params: Any) -> None:
    """Capture changes of the Customer table and publish them to the topic."""
    from chinook_pipeline.cli.runner import run_service
    from chinook_producer.service import run_producer

    settings = build(ProducerSettings, params, kafka=kafka_settings(ctx, params))
    service = build(ServiceSettings, params)
    logs.configure(service.log_level)  # before the first log line, or it is dropped
    _log_start("producer", settings.kafka, db=str(settings.db_path), topic=settings.topic)
    run_service("producer", lambda health, stop: run_producer(settings, health, stop), service)


@cli.command()
@options_from(ConsumerSettings)
@kafka_property_option
@options_from(ServiceSettings)
@click.pass_context
def consumer(ctx: click.Context, **params: Any) -> None:
    """Consume change events in a group into S3 objects or Iceberg tables; commit once durable."""
    from chinook_shared.memory import return_freed_memory

    return_freed_memory()  # before pyarrow is imported
    from chinook_consumer.service import run_consumer
    from chinook_pipeline.cli.runner import run_service

    settings = build(ConsumerSettings, params, kafka=kafka_settings(ctx, params))
    service = build(ServiceSettings, params)
    logs.configure(service.log_level)
    where = (
        {"table": settings.table, "state_table": settings.state_table or "none"}
        if settings.table
        else {"bucket": settings.bucket, "prefix": settings.prefix, "format": settings.format}
    )
    _log_start("consumer", settings.kafka, **where, topic=settings.topic, group=settings.group_id)
    run_service("consumer", lambda health, stop: run_consumer(settings, health, stop), service)


def _log_start(name: str, kafka: KafkaSettings, **details: str) -> None:
    """The startup summary: where the service reads and writes; secrets redacted."""
    summary = " ".join(f"{key}={value}" for key, value in details.items())
    properties = json.dumps(redact(kafka.client_properties()))
    log.info("%s starting: %s kafka=%s", name, summary, properties)


@cli.command()
@options_from(SeedSettings)
def seed(**params: Any) -> None:
    """Create (or extend) a database with the real Chinook Customer schema and synthetic customers."""
    from chinook_pipeline.tools.seed import seed_database

    settings = build(SeedSettings, params)
    added = seed_database(settings.db, settings.customers, settings.seed)
    click.echo(f"added {added} customers to {settings.db}")


@cli.command()
@options_from(WriteSettings)
def write(**params: Any) -> None:
    """Keep applying inserts, updates and deletes to the Customer table (a demo workload)."""
    import signal
    import threading

    from chinook_pipeline.tools.writer import ChangeWriter

    settings = build(WriteSettings, params)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    counts = ChangeWriter(settings.db, settings.seed).run(settings.rate, stop, settings.duration)
    click.echo(" ".join(f"{op}={count}" for op, count in sorted(counts.items())))


@cli.group()
def bucket() -> None:
    """Bucket infrastructure."""


@bucket.command("setup")
@options_from(BucketSetupSettings, S3Settings)
def bucket_setup(**params: Any) -> None:
    """Create the bucket if needed and apply versioning, encryption, public-access block, lifecycle.

    Run again, it changes nothing, except on backends that drop part of the lifecycle rule
    (MinIO: see docs/docker.md), where that rule is written again each time.
    """
    from chinook_pipeline.tools.bucket import setup_bucket

    settings, s3 = build(BucketSetupSettings, params), build(S3Settings, params)
    for line in setup_bucket(
        make_client(s3),
        settings.bucket,
        region=s3.region,
        policy=settings.policy,
        dry_run=settings.dry_run,
    ):
        click.echo(line)


@cli.command()
@options_from(VerifySettings, S3Settings)
def verify(**params: Any) -> None:
    """Rebuild each customer from the objects in S3 and compare with the database.

    Exits 0 only when every customer matches and no change event occurs twice.
    """
    from chinook_pipeline.tools.verify import verify as run_verify

    settings = build(VerifySettings, params)
    report = run_verify(
        settings.db, s3_client(params), settings.bucket, settings.prefix.strip("/"), settings.format
    )
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("sql")
@options_from(QuerySettings, CatalogSettings, S3Settings)
def query(sql: str, **params: Any) -> None:
    """Run SQL (DuckDB) over the objects, or the Iceberg tables with --table (see docs/query.md)."""
    from chinook_pipeline.tools.query import connect, run_query
    from chinook_pipeline.tools.render import render

    settings = build(QuerySettings, params)
    if settings.table is not None:
        connection = _table_connection(settings.table, settings.state_table, params)
    elif settings.state_table is not None:
        raise PipelineError("--state-table needs --table (the change table)")
    else:
        connection = connect(
            s3_client(params), settings.bucket, settings.prefix.strip("/"), settings.format
        )
    result = run_query(connection, sql)
    for line in render(result.columns, result.rows, settings.output):
        click.echo(line)


def _table_connection(
    changes_name: str, state_name: str | None, params: dict[str, Any]
) -> "duckdb.DuckDBPyConnection":
    """DuckDB's views over the named tables (pyiceberg imported only here)."""
    from chinook_pipeline.tools.query_tables import connect_tables
    from chinook_shared.iceberg.catalog import load_table, open_catalog

    catalog = open_catalog(build(CatalogSettings, params), build(S3Settings, params))
    changes = load_table(catalog, changes_name)
    state = load_table(catalog, state_name) if state_name else None
    return connect_tables(changes, state)


def _object_source(_ctx: click.Context, _param: click.Parameter, source: str) -> str:
    """Reject a malformed `s3://` URL or bucket name while parsing, like any bad value."""
    from chinook_pipeline.tools.inspect_object import S3_SCHEME, parse_s3_url

    if source.startswith(S3_SCHEME):
        try:
            parse_s3_url(source)
        except PipelineError as error:
            raise click.BadParameter(str(error)) from None
    return source


@cli.command()
@click.argument("source", callback=_object_source)
@options_from(S3Settings)
def inspect(source: str, **params: Any) -> None:
    """Print each record of one object (s3://BUCKET/KEY or a file; Protobuf or Parquet) as JSON."""
    from chinook_pipeline.tools.inspect_object import iter_records

    for record in iter_records(source, lambda: s3_client(params)):
        click.echo(json.dumps(record, ensure_ascii=False))


@cli.command()
@options_from(DevSettings)
def dev(**params: Any) -> None:
    """Run the whole pipeline locally on real parts: Apache Kafka, moto S3, producer, consumer."""
    from chinook_pipeline.local.dev import run_dev

    sys.exit(run_dev(build(DevSettings, params)))


@cli.group()
def iceberg() -> None:
    """The consumer's Iceberg tables."""


@iceberg.command("maintain")
@option(
    "--table",
    "tables",
    multiple=True,
    required=True,
    envvar=None,
    show_envvar=False,
    help="Table to maintain (NAMESPACE.NAME), repeatable.",
)
@options_from(MaintainSettings, CatalogSettings, S3Settings)
def iceberg_maintain(tables: tuple[str, ...], **params: Any) -> None:
    """Compact closed days, expire old snapshots, remove orphan files.

    Keeps what recovery needs: the Kafka positions every commit carries forward.
    """
    from chinook_pipeline.tools.iceberg_maintain import maintain
    from chinook_shared.iceberg.catalog import load_table, open_catalog
    from chinook_shared.units import parse_duration

    settings = build(MaintainSettings, params)
    catalog = open_catalog(build(CatalogSettings, params), build(S3Settings, params))
    for name in tables:
        table = load_table(catalog, name)
        older_than = parse_duration(settings.older_than)
        for line in maintain(table, s3_client(params), older_than, settings.dry_run):
            click.echo(line)


@iceberg.command("verify")
@options_from(TableVerifySettings, CatalogSettings, S3Settings)
def iceberg_verify(**params: Any) -> None:
    """Compare the state table with the database; look for events stored twice in the change table.

    Exits 0 only when every customer matches and no change event occurs twice.
    """
    from chinook_pipeline.tools.verify_tables import verify_tables
    from chinook_shared.iceberg.catalog import load_table, open_catalog

    settings = build(TableVerifySettings, params)
    catalog = open_catalog(build(CatalogSettings, params), build(S3Settings, params))
    state, changes = load_table(catalog, settings.table), load_table(catalog, settings.changes)
    report = verify_tables(settings.db, state, changes)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


cli.add_command(bench)


def main() -> None:
    cli(prog_name="chinook-pipeline")
