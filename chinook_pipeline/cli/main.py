"""`chinook-pipeline`: one entry point for the services, the tools and the embedded default.

Precedence of every option: flag > `CHINOOK_<NAME>` environment variable > config file
(`--config`, TOML) > default.
"""

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from chinook_pipeline.bench.run import bench
from chinook_pipeline.cli.options import (
    DEFAULT_TOPIC,
    ByteSize,
    kafka_options,
    metrics_options,
    option,
    s3_options,
)
from shared import logs
from shared.config import KAFKA_TABLE, default_map, kafka_properties, read_config_file
from shared.errors import PipelineError
from shared.kafka import KafkaSettings, redact
from shared.s3 import S3Settings

log = logging.getLogger("chinook_pipeline")


class PipelineGroup(click.Group):
    """Turns PipelineError into click's one-line `Error: ...` and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PipelineError as error:
            raise click.ClickException(str(error)) from None


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
    document = read_config_file(config) if config else {}
    ctx.obj = {"kafka_table": document.get(KAFKA_TABLE, {})}
    if document:
        ctx.default_map = _nest(default_map(document, _command_options(cli)))


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


def kafka_settings(ctx: click.Context, params: dict[str, Any]) -> KafkaSettings:
    password = params.get("sasl_password")
    if params.get("sasl_password_file"):
        password = Path(params["sasl_password_file"]).read_text().strip()
    return KafkaSettings(
        bootstrap_servers=params["bootstrap_servers"],
        security_protocol=params.get("security_protocol"),
        sasl_mechanism=params.get("sasl_mechanism"),
        sasl_username=params.get("sasl_username"),
        sasl_password=password,
        ssl_ca_location=params.get("ssl_ca_location"),
        ssl_certificate_location=params.get("ssl_certificate_location"),
        ssl_key_location=params.get("ssl_key_location"),
        ssl_verify_hostname=params.get("ssl_verify_hostname", True),
        extra=kafka_properties(
            (ctx.obj or {}).get("kafka_table", {}), os.environ, params.get("kafka_property", ())
        ),
    )


def s3_settings(params: dict[str, Any]) -> S3Settings:
    return S3Settings(endpoint_url=params.get("s3_endpoint_url"), region=params.get("s3_region"))


def s3_client(params: dict[str, Any]) -> Any:
    from shared.s3 import make_client

    return make_client(s3_settings(params))


@cli.command()
@option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="SQLite database holding the Chinook Customer table.",
)
@kafka_options
@option(
    "--partitions",
    type=click.IntRange(1, 10_000),
    default=6,
    help="Partitions when the producer creates the topic.",
)
@option(
    "--batch-rows",
    type=click.IntRange(1, 1_000_000),
    default=5000,
    help="Change rows read per SQLite query.",
)
@option(
    "--poll-interval",
    type=click.FloatRange(0.001, 60),
    default=0.05,
    help="Seconds between change checks when idle.",
)
@option(
    "--exit-when-idle", is_flag=True, help="Publish everything the database holds now, then exit 0."
)
@metrics_options
@click.pass_context
def producer(ctx: click.Context, **params: Any) -> None:
    """Capture changes of the Customer table and publish them to the topic."""
    from chinook_pipeline.cli.runner import run_service
    from producer.config import ProducerConfig
    from producer.service import run_producer

    config = ProducerConfig(
        db_path=params["db"],
        kafka=kafka_settings(ctx, params),
        topic=params["topic"],
        partitions=params["partitions"],
        batch_rows=params["batch_rows"],
        poll_interval=params["poll_interval"],
        exit_when_idle=params["exit_when_idle"],
    )
    logs.configure(params["log_level"])  # before the first log line, or it is dropped
    _log_start("producer", config.kafka, db=str(config.db_path), topic=config.topic)
    run_service(
        "producer",
        lambda health, stop: run_producer(config, health, stop),
        params["metrics_host"],
        params["metrics_port"],
        params["log_level"],
    )


@cli.command()
@kafka_options
@option("--bucket", required=True, help="S3 bucket the objects go to.")
@option("--prefix", default="", help="Key prefix inside the bucket.")
@option("--group-id", default="chinook-s3-sink", help="Consumer group.")
@option(
    "--layout",
    type=click.Choice(["hive-hourly", "year-month-day-hour", "entity-date"]),
    default="hive-hourly",
    help="Key layout: dt=YYYY-MM-DD/hour=HH, year=/month=/day=/hour=, or customer/date=YYYY-MM-DD.",
)
@option(
    "--flush-records",
    type=click.IntRange(1, 10_000_000),
    default=50_000,
    help="Flush a partition's batch at this many records.",
)
@option("--flush-bytes", type=ByteSize(), default="16MiB", help="... or at this many bytes.")
@option(
    "--flush-age",
    type=click.FloatRange(0.05, 86_400),
    default=10.0,
    help="... or this many seconds after its first record arrived.",
)
@option(
    "--format",
    type=click.Choice(["protobuf", "parquet"]),
    default="protobuf",
    help="Object format: length-delimited Protobuf, or Parquet for SQL engines (see README).",
)
@option(
    "--compression",
    type=click.Choice(["gzip", "zstd", "none"]),
    help="Object compression [default: gzip for protobuf, zstd for parquet].",
)
@option(
    "--upload-concurrency",
    type=click.IntRange(1, 64),
    default=8,
    help="Parallel uploads (objects and multipart parts).",
)
@option(
    "--multipart-threshold",
    type=ByteSize(),
    default="16MiB",
    help="Objects at least this large go up as multipart uploads.",
)
@option(
    "--multipart-chunksize",
    type=ByteSize(),
    default="8MiB",
    help="Multipart part size (S3 minimum 5MiB).",
)
@option(
    "--shutdown-timeout",
    type=click.FloatRange(0, 3600),
    default=30.0,
    help="Seconds SIGTERM may spend flushing before exiting without committing.",
)
@option(
    "--dlq-topic",
    help="Dead-letter topic for records that cannot be decoded [default: <topic>.dlq].",
)
@option(
    "--exit-when-idle",
    is_flag=True,
    help="Consume to the end of every assigned partition, upload, commit, then exit 0.",
)
@s3_options
@metrics_options
@click.pass_context
def consumer(ctx: click.Context, **params: Any) -> None:
    """Consume change events in a group, batch them into S3 objects, commit after upload."""
    from chinook_pipeline.cli.runner import run_service
    from consumer.config import ConsumerConfig
    from consumer.service import run_consumer

    config = ConsumerConfig(
        kafka=kafka_settings(ctx, params),
        s3=s3_settings(params),
        bucket=params["bucket"],
        prefix=params["prefix"].strip("/"),
        topic=params["topic"],
        group_id=params["group_id"],
        layout=params["layout"],
        flush_records=params["flush_records"],
        flush_bytes=params["flush_bytes"],
        flush_age=params["flush_age"],
        format=params["format"],
        compression=params["compression"],
        upload_concurrency=params["upload_concurrency"],
        multipart_threshold=params["multipart_threshold"],
        multipart_chunksize=params["multipart_chunksize"],
        shutdown_timeout=params["shutdown_timeout"],
        dlq_topic=params["dlq_topic"],
        exit_when_idle=params["exit_when_idle"],
    )
    logs.configure(params["log_level"])
    _log_start(
        "consumer",
        config.kafka,
        bucket=config.bucket,
        prefix=config.prefix,
        topic=config.topic,
        group=config.group_id,
        format=config.format,
    )
    run_service(
        "consumer",
        lambda health, stop: run_consumer(config, health, stop),
        params["metrics_host"],
        params["metrics_port"],
        params["log_level"],
    )


def _log_start(name: str, kafka: KafkaSettings, **details: str) -> None:
    """The startup summary: where the service reads and writes; secrets redacted."""
    summary = " ".join(f"{key}={value}" for key, value in details.items())
    log.info("%s starting: %s kafka=%s", name, summary, json.dumps(redact(kafka.client_config())))


@cli.command()
@option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="SQLite database to create or extend.",
)
@option(
    "--customers",
    type=click.IntRange(0, 100_000_000),
    default=1000,
    help="Synthetic customers to add.",
)
@option("--seed", type=int, default=42, help="Random seed: the same seed gives the same customers.")
def seed(db: Path, customers: int, seed: int) -> None:
    """Create (or extend) a database with the real Chinook Customer schema and synthetic customers."""
    from chinook_pipeline.tools.seed import seed_database

    added = seed_database(db, customers, seed)
    click.echo(f"added {added} customers to {db}")


@cli.command()
@option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="SQLite database to change.",
)
@option("--rate", type=click.FloatRange(0.1, 100_000), default=20.0, help="Changes per second.")
@option("--duration", type=click.FloatRange(0), help="Seconds to run [default: until stopped].")
@option("--seed", type=int, default=7, help="Random seed.")
def write(db: Path, rate: float, duration: float | None, seed: int) -> None:
    """Keep applying inserts, updates and deletes to the Customer table (a demo workload)."""
    import signal
    import threading

    from chinook_pipeline.tools.writer import ChangeWriter

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    counts = ChangeWriter(db, seed).run(rate, stop, duration)
    click.echo(" ".join(f"{op}={count}" for op, count in sorted(counts.items())))


@cli.group()
def bucket() -> None:
    """Bucket infrastructure."""


@bucket.command("setup")
@option("--bucket", "bucket_name", required=True, help="Bucket to create or bring up to date.")
@option("--kms-key-id", help="Use SSE-KMS with this key instead of SSE-S3.")
@option(
    "--transition-days",
    type=click.IntRange(0),
    default=0,
    help="Move objects to a colder class after N days (0: off).",
)
@option(
    "--transition-storage-class", default="STANDARD_IA", help="Storage class for the transition."
)
@option(
    "--expire-days", type=click.IntRange(0), default=0, help="Expire objects after N days (0: off)."
)
@option(
    "--noncurrent-expire-days",
    type=click.IntRange(1),
    default=30,
    help="Expire noncurrent versions after N days.",
)
@option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@s3_options
def bucket_setup(bucket_name: str, **params: Any) -> None:
    """Create the bucket if needed and apply versioning, encryption, public-access block, lifecycle.

    Idempotent: a second run changes nothing.
    """
    from chinook_pipeline.tools.bucket import setup_bucket

    for line in setup_bucket(
        s3_client(params),
        bucket_name,
        region=params["s3_region"],
        kms_key_id=params["kms_key_id"],
        transition_days=params["transition_days"],
        transition_storage_class=params["transition_storage_class"],
        expire_days=params["expire_days"],
        noncurrent_expire_days=params["noncurrent_expire_days"],
        dry_run=params["dry_run"],
    ):
        click.echo(line)


@cli.command()
@option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="SQLite database to compare with.",
)
@option("--bucket", "bucket_name", required=True, help="Bucket holding the objects.")
@option("--prefix", default="", help="Key prefix of the objects.")
@option(
    "--format",
    type=click.Choice(["protobuf", "parquet"]),
    default="protobuf",
    help="Check the .parquet objects, or every other object as Protobuf.",
)
@s3_options
def verify(db: Path, bucket_name: str, prefix: str, **params: Any) -> None:
    """Rebuild each customer from the objects in S3 and compare with the database.

    Exits 0 only when every customer matches and no change event occurs twice.
    """
    from chinook_pipeline.tools.verify import verify as run_verify

    report = run_verify(db, s3_client(params), bucket_name, prefix.strip("/"), params["format"])
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("sql")
@option("--bucket", "bucket_name", default="chinook-data", help="Bucket holding the objects.")
@option("--prefix", default="", help="Key prefix of the objects.")
@option(
    "--format",
    type=click.Choice(["parquet", "protobuf"]),
    default="parquet",
    help="Query the .parquet objects, or every other object as Protobuf.",
)
@option(
    "--output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    help="A table for people; CSV or JSON lines for scripts.",
)
@s3_options
def query(sql: str, bucket_name: str, prefix: str, **params: Any) -> None:
    """Run SQL (DuckDB) over the objects: views customer_changes and customers (see README)."""
    from chinook_pipeline.tools.query import run_query
    from chinook_pipeline.tools.render import render

    result = run_query(s3_client(params), bucket_name, prefix.strip("/"), params["format"], sql)
    for line in render(result.columns, result.rows, params["output"]):
        click.echo(line)


@cli.command()
@click.argument("source")
@s3_options
def inspect(source: str, **params: Any) -> None:
    """Print each record of one object (s3://BUCKET/KEY or a file; Protobuf or Parquet) as JSON."""
    from chinook_pipeline.tools.inspect_object import iter_records

    for record in iter_records(source, lambda: s3_client(params)):
        click.echo(json.dumps(record, ensure_ascii=False))


@cli.command()
@option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/chinook.db"),
    help="Database to seed (if absent) and capture.",
)
@option(
    "--customers",
    type=click.IntRange(1),
    default=1000,
    help="Customers to seed when the database is created.",
)
@option("--bucket", "bucket_name", default="chinook-data", help="Bucket on the local S3 server.")
@option("--writes/--no-writes", default=True, help="Keep applying a small stream of changes.")
@option("--write-rate", type=click.FloatRange(0.1, 10_000), default=5.0, help="Changes per second.")
@option(
    "--status-interval",
    type=click.FloatRange(0.5, 3600),
    default=5.0,
    help="Seconds between status lines.",
)
@option(
    "--flush-age",
    type=click.FloatRange(0.05, 3600),
    default=2.0,
    help="Consumer flush age in seconds.",
)
@option("--duration", type=click.FloatRange(0), help="Stop by itself after this many seconds.")
@option("--topic", default=DEFAULT_TOPIC, help="Topic of change events.")
def dev(**params: Any) -> None:
    """Run the whole pipeline locally on real parts: Tansu broker, moto S3, producer, consumer."""
    from chinook_pipeline.local.dev import DevOptions, run_dev

    sys.exit(run_dev(DevOptions(**params)))


cli.add_command(bench)


def main() -> None:
    cli(prog_name="chinook-pipeline")
