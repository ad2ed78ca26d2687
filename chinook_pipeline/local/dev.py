"""`chinook-pipeline dev`: the embedded default, the whole pipeline on real parts, one command.

It runs the producer and three consumers (Protobuf objects; Parquet objects, parquet_sink.py;
Iceberg tables, table_sink.py), each a separate process exactly as a user would run it, next to
an Apache Kafka (KRaft) broker and a moto S3 server. While it runs, a local profile
(profile.py) lets `query`, `verify`, `inspect` and `iceberg verify` run in the same folder find
the stack on their own. On SIGINT/SIGTERM it stops the writes, lets the pipeline drain, stops
every child and prints the result of `verify` for every sink.
"""

import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from chinook_pipeline.local import embedded, kafka, status
from chinook_pipeline.local.banner import banner, executable, profile_tables
from chinook_pipeline.local.embedded import LOCAL_CREDENTIALS
from chinook_pipeline.local.parquet_sink import ParquetSink
from chinook_pipeline.local.processes import Child, stop_on_signals, tail, wait_for
from chinook_pipeline.local.profile import PROFILE, read_profile, remove_profile, write_profile
from chinook_pipeline.local.settings import DevSettings
from chinook_pipeline.local.status import status_line
from chinook_pipeline.local.table_sink import TableSink, catalog_files
from chinook_pipeline.tools.bucket import setup_bucket
from chinook_pipeline.tools.seed import seed_database
from chinook_pipeline.tools.verify import verify
from chinook_pipeline.tools.writer import ChangeWriter
from chinook_shared import logs, names
from chinook_shared.errors import PipelineError
from chinook_shared.s3 import S3Settings, make_client

log = logging.getLogger(__name__)
GAUGE_REFRESH = 1.5  # seconds: the producer's checkpoint interval (1 s) and a margin


def run_dev(settings: DevSettings) -> int:
    """Run until a signal (or `duration`); return the exit code (0 when verify passes).

    Raises PipelineError when another `dev` runs in this folder (its profile is live)."""
    _, running = read_profile(PROFILE)
    if running is not None:
        raise PipelineError(
            f"`chinook-pipeline dev` (pid {running}) already runs in this folder: stop it first "
            "(a second one would remove its broker storage and catalog)"
        )
    logs.configure("INFO")
    stop = threading.Event()
    stop_on_signals(
        stop,
        lambda signal: click.echo(
            f"\n{signal}: stopping writes and draining the pipeline "
            "(press Ctrl-C again to stop at once)"
        ),
    )
    log_dir = settings.db.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    _forget_earlier_run(settings, log_dir)
    with ExitStack() as cleanup:
        s3 = embedded.start_s3(log=log_dir / "moto.log")
        cleanup.callback(s3.stop)
        broker = kafka.start_cluster(log_dir / "kafka")
        cleanup.callback(broker.stop)
        os.environ.update(s3.env)
        client = make_client(S3Settings())
        for line in setup_bucket(client, settings.bucket_name, region=None):
            log.info("bucket setup: %s", line)
        if not settings.db.exists():
            added = seed_database(settings.db, settings.customers)
            log.info("seeded %s with %d customers", settings.db, added)
        producer, consumer = _start_services(settings, broker, log_dir)
        parquet = ParquetSink.start(settings, broker, log_dir)
        tables = TableSink.start(settings, broker, log_dir, client)
        services = {
            "producer": producer,
            "objects": consumer,
            "parquet": parquet.child,
            "tables": tables.child,
        }
        for child in services.values():
            cleanup.callback(embedded.stop, child.process)
        write_profile(PROFILE, os.getpid(), LOCAL_CREDENTIALS, profile_tables(settings, s3, tables))
        cleanup.callback(remove_profile, PROFILE, os.getpid())
        click.echo(banner(settings, broker, s3, services, tables, log_dir))
        writes = threading.Event()
        writer = threading.Thread(target=_write, args=(settings, writes), daemon=True)
        if settings.writes:
            writer.start()
        failed = _watch(settings, stop, services, client)
        writes.set()
        if settings.writes:
            writer.join()
        if failed:
            return 1
        drained = _drain(producer, consumer)
        report = verify(settings.db, client, settings.bucket_name, "", "protobuf")
        parquet_report = parquet.finish(client, settings)
        tables_report = tables.finish(settings)
        click.echo(f"final: {drained}")
        click.echo(f"verify: {report.summary()}")
        click.echo(f"verify (parquet): {parquet_report.summary()}")
        click.echo(f"verify (tables): {tables_report.summary() if tables_report else 'failed'}")
        reports = (report, parquet_report, tables_report)
        return 0 if all(item is not None and item.ok for item in reports) else 1


def _forget_earlier_run(settings: DevSettings, log_dir: Path) -> None:
    """Every run starts with an empty broker and an empty S3 server (it keeps its data in
    memory), so what describes an earlier run's topic and files goes too: the broker's storage
    and the tables' catalog. The database stays: the producer finds that the topic lost its
    changes and snapshots the database again."""
    for path in (log_dir / "kafka", *catalog_files(settings)):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        log.info("removed %s, which belonged to an earlier run", path)


def _write(settings: DevSettings, stop: threading.Event) -> None:
    """The demo workload; the writer's SQLite connection must live in this thread."""
    ChangeWriter(settings.db, seed=int(time.time())).run(settings.write_rate, stop)


def _start_services(
    settings: DevSettings, broker: kafka.Cluster, log_dir: Path
) -> tuple[Child, Child]:
    common = ["--bootstrap-servers", broker.bootstrap_servers, "--topic", settings.topic]
    producer = Child.start(
        "producer", ["producer", *common, "--db", str(settings.db)], log_dir, metrics=True
    )
    consumer_args = ["--bucket", settings.bucket_name, "--flush-age", str(settings.flush_age)]
    consumer = Child.start("consumer", ["consumer", *common, *consumer_args], log_dir, metrics=True)
    return producer, consumer


def _watch(
    settings: DevSettings, stop: threading.Event, services: Mapping[str, Child], s3_client: Any
) -> bool:
    """Print a status line every few seconds until stopped, and how to read the first object
    once there is one; True when a child died."""
    deadline = time.monotonic() + settings.duration if settings.duration else None
    sample = False
    producer, *_ = services.values()
    sinks = {name: child for name, child in services.items() if child is not producer}
    while not stop.wait(settings.status_interval):
        for child in services.values():
            if not child.running():
                click.echo(
                    f"error: the {child.name} exited with code {child.process.returncode}; "
                    f"its log is {child.log}:\n{tail(child.log)}",
                    err=True,
                )
                return True
        click.echo(status_line(producer, sinks))
        sample = sample or _print_sample(s3_client, settings.bucket_name, settings.topic)
        if deadline and time.monotonic() >= deadline:
            break
    return False


def _print_sample(client: Any, bucket: str, topic: str) -> bool:
    """Show how to read one of the objects while the S3 server is up; False while there is none."""
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{topic}/", MaxKeys=1)
    for item in listing.get("Contents", []):
        click.echo(f"first object: {executable()} inspect s3://{bucket}/{item['Key']}")
        return True
    return False


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
    producer_status = status.producer_status(producer)
    producer.stop()
    if wait_for(lambda: _consumer_caught_up(consumer.metrics(), published or 0.0)) is None:
        log.warning("gave up waiting for the consumer to catch up")
    consumer_status = status.sink_status("objects", consumer)
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
