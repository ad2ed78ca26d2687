"""The memory figures: the peak RSS of each service process (its VmHWM, read while the bench
polls it for exit) working through a backlog of `--backlog` changes: the producer, then the
consumer writing objects and the one writing the change table, each reading the whole topic in
its own group."""

from pathlib import Path

from chinook_pipeline.bench.databases import copy
from chinook_pipeline.bench.probes import MB, SERVICE_TIMEOUT
from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.table import table_options
from chinook_pipeline.bench.throughput import run_producer


def memory(bench: Session, pristine: Path, repeat: int) -> None:
    topic, group = bench.stack.name("backlog", repeat), bench.stack.name("backlog-sink", repeat)
    db = copy(bench.stack, pristine, f"backlog-{repeat}")
    producer = run_producer(bench, db, topic, f"backlog-producer-{repeat}").wait(SERVICE_TIMEOUT)
    consumer = bench.stack.consumer(
        f"backlog-consumer-{repeat}", topic, group, "--exit-when-idle"
    ).wait(SERVICE_TIMEOUT)
    tables = f"{group}-table"
    table = bench.stack.consumer(
        f"backlog-table-consumer-{repeat}",
        topic,
        tables,
        "--exit-when-idle",
        *table_options(bench.stack, tables),
    ).wait(SERVICE_TIMEOUT)
    bench.record(
        "producer_rss",
        producer.peak_rss / MB,
        changes=bench.settings.backlog,
        wall_seconds=producer.elapsed,
    )
    bench.record(
        "consumer_rss",
        consumer.peak_rss / MB,
        records=bench.settings.backlog,
        wall_seconds=consumer.elapsed,
    )
    bench.record(
        "consumer_table_rss",
        table.peak_rss / MB,
        records=bench.settings.backlog,
        wall_seconds=table.elapsed,
    )
    db.unlink()
    bench.stack.delete_topics(topic)
