"""`chinook-pipeline dev`: the embedded default, the whole pipeline on real parts, one command.

It runs the producer and the consumer as two separate processes, exactly as a user would, next
to an Apache Kafka (KRaft) broker and a moto S3 server, plus a consumer writing Iceberg tables (table_sink.py); on SIGINT/SIGTERM it stops the writes, lets the pipeline
drain, stops every child and prints the result of `verify`.
"""

import logging
import os
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.options import DevOptions
from chinook_pipeline.local.parquet_sink import ParquetSink
from chinook_pipeline.local.processes import Child, stop_on_signals, tail, wait_for
from chinook_pipeline.local.table_sink import TableSink
from chinook_pipeline.tools.bucket import setup_bucket
from chinook_pipeline.tools.seed import seed_database
from chinook_pipeline.tools.verify import verify
from chinook_pipeline.tools.writer import ChangeWriter
from shared import logs, names
from shared.s3 import S3Settings, make_client

log = logging.getLogger("chinook_pipeline.local.dev")
GAUGE_REFRESH = 1.5  # seconds: the producer's checkpoint interval (1 s) and a margin


def run_dev(options: DevOptions) -> int:
    """Run until a signal (or `duration`); return the exit code (0 when verify passes)."""
    logs.configure("INFO")
    stop = threading.Event()
    stop_on_signals(
        stop,
        lambda signal: click.echo(
            f"\n{signal}: stopping writes and draining the pipeline "
            "(press Ctrl-C again to stop at once)"
        ),
    )
    log_dir = options.db.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:
        s3 = embedded.start_s3(log=log_dir / "moto.log")
        cleanup.callback(s3.stop)
        broker = kafka.start_cluster(log_dir / "kafka")
        cleanup.callback(broker.stop)
        os.environ.update(s3.env)
        client = make_client(S3Settings())
        for line in setup_bucket(client, options.bucket_name, region=None):
            log.info("bucket setup: %s", line)
        if not options.db.exists():
            added = seed_database(options.db, options.customers)
            log.info("seeded %s with %d customers", options.db, added)
        producer, consumer = _start_services(options, broker, log_dir)
        parquet = ParquetSink.start(options, broker, log_dir)
        tables = TableSink.start(options, broker, log_dir)
        for child in (producer, consumer, parquet.child, tables.child):
            cleanup.callback(embedded.stop, child.process)
        _print_banner(options, broker, s3, producer, consumer, log_dir)
        click.echo(parquet.banner(options, s3))
        click.echo(tables.banner(s3))
        writes = threading.Event()
        writer = threading.Thread(target=_write, args=(options, writes), daemon=True)
        if options.writes:
            writer.start()
        failed = _watch(options, stop, producer, consumer)
        writes.set()
        if options.writes:
            writer.join()
        if failed:
            return 1
        drained = _drain(producer, consumer)
        report = verify(options.db, client, options.bucket_name, options.topic)  # not iceberg/
        parquet_report = parquet.finish(client, options)
        tables_report = tables.finish(options)
        click.echo(f"final: {drained}")
        click.echo(f"verify: {report.summary()}")
        click.echo(f"verify (parquet): {parquet_report.summary()}")
        click.echo(f"verify (tables): {tables_report.summary() if tables_report else 'failed'}")
        _print_sample(client, options.bucket_name, options.topic, s3)
        reports = (report, parquet_report, tables_report)
        return 0 if all(item is not None and item.ok for item in reports) else 1


def _write(options: DevOptions, stop: threading.Event) -> None:
    """The demo workload; the writer's SQLite connection must live in this thread."""
    ChangeWriter(options.db, seed=int(time.time())).run(options.write_rate, stop)


def _start_services(
    options: DevOptions, broker: kafka.Cluster, log_dir: Path
) -> tuple[Child, Child]:
    common = ["--bootstrap-servers", broker.bootstrap_servers, "--topic", options.topic]
    producer = Child.start(
        "producer", ["producer", *common, "--db", str(options.db)], log_dir, metrics=True
    )
    consumer_args = ["--bucket", options.bucket_name, "--flush-age", str(options.flush_age)]
    consumer = Child.start("consumer", ["consumer", *common, *consumer_args], log_dir, metrics=True)
    return producer, consumer


def _print_banner(
    options: DevOptions,
    broker: kafka.Cluster,
    s3: embedded.S3Server,
    producer: Child,
    consumer: Child,
    log_dir: Path,
) -> None:
    click.echo(
        "\n".join(
            [
                "chinook-pipeline dev: the whole pipeline on real parts (Ctrl-C to stop)",
                f"  database   {options.db}",
                f"  broker     Apache Kafka (KRaft) at {broker.bootstrap_servers}, topic {options.topic}",
                f"  S3         moto at {s3.endpoint_url}, bucket {options.bucket_name}",
                f"  metrics    producer {producer.metrics_url}  consumer {consumer.metrics_url}",
                f"  logs       {log_dir}/",
                f"  objects    s3://{options.bucket_name}/{options.topic}/dt=YYYY-MM-DD/hour=HH/...; "
                "a sample key and the command to read it are printed when you stop",
            ]
        )
    )


def _print_sample(client: Any, bucket: str, topic: str, s3: embedded.S3Server) -> None:
    """Show how to read an object with the tools a user has (the server stops with dev)."""
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{topic}/", MaxKeys=1)
    for item in listing.get("Contents", []):
        click.echo(
            f"sample object: s3://{bucket}/{item['Key']}\n  read one while dev runs: "
            f"AWS_ENDPOINT_URL_S3={s3.endpoint_url} AWS_ACCESS_KEY_ID=chinook-local "
            f"AWS_SECRET_ACCESS_KEY=chinook-local-secret chinook-pipeline inspect s3://{bucket}/{item['Key']}"
        )


def _watch(options: DevOptions, stop: threading.Event, producer: Child, consumer: Child) -> bool:
    """Print a status line every few seconds until stopped; True when a child died."""
    deadline = time.monotonic() + options.duration if options.duration else None
    while not stop.wait(options.status_interval):
        for child in (producer, consumer):
            if not child.running():
                click.echo(
                    f"error: the {child.name} exited with code {child.process.returncode}; "
                    f"its log is {child.log}:\n{tail(child.log)}",
                    err=True,
                )
                return True
        click.echo(_status(producer, consumer))
        if deadline and time.monotonic() >= deadline:
            break
    return False


def _status(producer: Child, consumer: Child) -> str:
    return f"{_producer_status(producer)} | {_consumer_status(consumer)}"


def _producer_status(producer: Child) -> str:
    p = producer.metrics()
    return (
        f"captured={p.get(names.PRODUCER_ROWS_CAPTURED, 0):.0f} "
        f"published={p.get(names.PRODUCER_MESSAGES_PUBLISHED, 0):.0f} "
        f"source_lag={p.get(names.PRODUCER_SOURCE_LAG, 0):.0f}"
    )


def _consumer_status(consumer: Child) -> str:
    c = consumer.metrics()
    kib = c.get(names.CONSUMER_BYTES_UPLOADED, 0) / 1024
    return (
        f"consumed={c.get(names.CONSUMER_RECORDS_CONSUMED, 0):.0f} "
        f"uploaded={c.get(names.CONSUMER_OBJECTS_UPLOADED, 0):.0f} objects ({kib:.0f} KiB) "
        f"committed={c.get(names.CONSUMER_OFFSETS_COMMITTED, 0):.0f} "
        f"lag={c.get(names.CONSUMER_LAG, 0):.0f}"
    )


def _drain(producer: Child, consumer: Child) -> str:
    """Let the producer publish what is captured, then the consumer upload and commit all of it.

    Returns the last status line seen before the consumer stopped. The writes have stopped; the
    producer's source-lag gauge is refreshed at each checkpoint, so a reading taken sooner than
    one checkpoint interval later may predate the last write.
    """
    time.sleep(GAUGE_REFRESH)
    published = wait_for(lambda: _published_when_drained(producer.metrics()))
    if published is None:
        log.warning("gave up waiting for the producer to publish every captured change")
    producer_status = _producer_status(producer)
    producer.stop()
    if wait_for(lambda: _consumer_caught_up(consumer.metrics(), published or 0.0)) is None:
        log.warning("gave up waiting for the consumer to catch up")
    consumer_status = _consumer_status(consumer)
    consumer.stop()
    return f"{producer_status} | {consumer_status}"


def _published_when_drained(metrics: dict[str, float]) -> float | None:
    """The producer's published count once nothing captured is left unpublished, else None."""
    if metrics and metrics.get(names.PRODUCER_SOURCE_LAG, 1) == 0:
        return metrics.get(names.PRODUCER_MESSAGES_PUBLISHED, 0.0)
    return None


def _consumer_caught_up(metrics: dict[str, float], published: float) -> bool | None:
    """True once the consumer has consumed everything published and has no lag, else None."""
    caught_up = (
        bool(metrics)
        and metrics.get(names.CONSUMER_LAG, 1) == 0
        and metrics.get(names.CONSUMER_RECORDS_CONSUMED, 0) >= published
    )
    return True if caught_up else None
