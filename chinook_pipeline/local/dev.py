"""`chinook-pipeline dev`: the embedded default, the whole pipeline on real parts, one command.

It runs the producer and the consumer as two separate processes, exactly as a user would, next
to a Tansu broker and a moto S3 server; on SIGINT/SIGTERM it stops the writes, lets the pipeline
drain, stops every child and prints the result of `verify`.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from chinook_pipeline.local import embedded
from chinook_pipeline.local.parquet_sink import ParquetSink
from chinook_pipeline.local.scrape import scrape
from chinook_pipeline.tools.bucket import setup_bucket
from chinook_pipeline.tools.seed import seed_database
from chinook_pipeline.tools.verify import verify
from chinook_pipeline.tools.writer import ChangeWriter
from shared import logs
from shared.s3 import S3Settings, make_client

log = logging.getLogger("chinook_pipeline.local.dev")
DRAIN_TIMEOUT = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class DevOptions:
    db: Path
    customers: int
    bucket_name: str
    writes: bool
    write_rate: float
    status_interval: float
    flush_age: float
    duration: float | None
    topic: str


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    metrics_url: str
    log_path: Path


def run_dev(options: DevOptions) -> int:
    """Run until a signal (or `duration`); return the exit code (0 when verify passes)."""
    logs.configure("INFO")
    stop = threading.Event()
    signals = {"count": 0}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            raise SystemExit(130)
        click.echo(
            f"\n{signal.Signals(signum).name}: stopping writes and draining the pipeline "
            "(press Ctrl-C again to stop at once)"
        )
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log_dir = options.db.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:
        s3 = embedded.start_s3(log=log_dir / "moto.log")
        cleanup.callback(s3.stop)
        broker = embedded.start_broker(log=log_dir / "tansu.log")
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
        for process in (producer.process, consumer.process, parquet.process):
            cleanup.callback(embedded.stop, process)
        _print_banner(options, broker, s3, producer, consumer, log_dir)
        click.echo(parquet.banner(options, s3))
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
        report = verify(options.db, client, options.bucket_name)
        parquet_report = parquet.finish(client, options)
        click.echo(f"final: {drained}")
        click.echo(f"verify: {report.summary()}")
        click.echo(f"verify (parquet): {parquet_report.summary()}")
        _print_sample(client, options.bucket_name, options.topic, s3)
        return 0 if report.ok and parquet_report.ok else 1


def _write(options: DevOptions, stop: threading.Event) -> None:
    """The demo workload; the writer's SQLite connection must live in this thread."""
    ChangeWriter(options.db, seed=int(time.time())).run(options.write_rate, stop)


def _start_services(
    options: DevOptions, broker: embedded.Broker, log_dir: Path
) -> tuple[Child, Child]:
    base = [sys.executable, "-m", "chinook_pipeline"]
    common = ["--bootstrap-servers", broker.bootstrap_servers, "--topic", options.topic]
    children = []
    for name, extra in (
        ("producer", ["--db", str(options.db)]),
        ("consumer", ["--bucket", options.bucket_name, "--flush-age", str(options.flush_age)]),
    ):
        port = embedded.free_port()
        log_path = log_dir / f"{name}.log"
        argv = [*base, name, *common, *extra, "--metrics-port", str(port)]
        process = embedded.spawn(argv, log=log_path)
        children.append(Child(name, process, f"http://127.0.0.1:{port}/metrics", log_path))
    return children[0], children[1]


def _print_banner(
    options: DevOptions,
    broker: embedded.Broker,
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
                f"  broker     Tansu at {broker.bootstrap_servers}, topic {options.topic}",
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
            if child.process.poll() is not None:
                click.echo(
                    f"error: the {child.name} exited with code {child.process.returncode}; "
                    f"its log is {child.log_path}:\n{_tail(child.log_path)}",
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
    p = scrape(producer.metrics_url)
    return (
        f"captured={p.get('chinook_producer_rows_captured_total', 0):.0f} "
        f"published={p.get('chinook_producer_messages_published_total', 0):.0f} "
        f"source_lag={p.get('chinook_producer_source_lag', 0):.0f}"
    )


def _consumer_status(consumer: Child) -> str:
    c = scrape(consumer.metrics_url)
    return (
        f"consumed={c.get('chinook_consumer_records_consumed_total', 0):.0f} "
        f"uploaded={c.get('chinook_consumer_objects_uploaded_total', 0):.0f} objects "
        f"({c.get('chinook_consumer_bytes_uploaded_total', 0) / 1024:.0f} KiB) "
        f"committed={c.get('chinook_consumer_offsets_committed_total', 0):.0f} "
        f"lag={c.get('chinook_consumer_lag', 0):.0f}"
    )


def _drain(producer: Child, consumer: Child) -> str:
    """Let the producer publish what is captured, then the consumer upload and commit all of it.

    Returns the last status line seen before the consumer stopped.
    """
    published = _wait_for(
        lambda: _published_when_drained(scrape(producer.metrics_url)),
        "the producer to publish every captured change",
    )
    producer_status = _producer_status(producer)
    embedded.stop(producer.process, timeout=DRAIN_TIMEOUT)
    _wait_for(
        lambda: _consumer_caught_up(scrape(consumer.metrics_url), published or 0.0),
        "the consumer to catch up",
    )
    consumer_status = _consumer_status(consumer)
    embedded.stop(consumer.process, timeout=DRAIN_TIMEOUT)
    return f"{producer_status} | {consumer_status}"


def _published_when_drained(metrics: dict[str, float]) -> float | None:
    """The producer's published count once nothing captured is left unpublished, else None."""
    if metrics and metrics.get("chinook_producer_source_lag", 1) == 0:
        return metrics.get("chinook_producer_messages_published_total", 0.0)
    return None


def _consumer_caught_up(metrics: dict[str, float], published: float) -> bool | None:
    caught_up = (
        bool(metrics)
        and metrics.get("chinook_consumer_lag", 1) == 0
        and metrics.get("chinook_consumer_records_consumed_total", 0) >= published
    )
    return True if caught_up else None


def _wait_for(probe: Callable[[], T | None], what: str) -> T | None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        result = probe()
        if result is not None:
            return result
        time.sleep(0.2)
    log.warning("gave up waiting for %s after %.0fs", what, DRAIN_TIMEOUT)
    return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
