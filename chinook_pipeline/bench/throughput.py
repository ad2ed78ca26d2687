"""The throughput figures: the services against their limits, on one topic per run.

The producer fills the run's topic from a copy of the seeded database; librdkafka alone then
reads it (the raw consume limit, which also checks the count), and the consumers read it again,
one, two and three in a group, each group writing under its own prefix. The services run as
`--exit-when-idle` processes; their rates count from the first change / record seen on their
/metrics to the last exit (`probes.run_to_exit`).
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from chinook_pipeline.bench.databases import copy
from chinook_pipeline.bench.limits import Payload, consume_all, produce_all
from chinook_pipeline.bench.probes import SERVICE_TIMEOUT, committed_offsets, run_to_exit
from chinook_pipeline.bench.session import Session
from chinook_pipeline.local.processes import Child
from chinook_shared import names
from chinook_shared.errors import PipelineError

CONSUMER_COUNTS: Final = (1, 2, 3)


def raw_produce(bench: Session, payloads: Sequence[Payload], repeat: int) -> None:
    """Figure `raw_produce`: librdkafka producing the producer's own messages."""
    from chinook_shared.kafka import ensure_topic

    stack = bench.stack
    topic = stack.name("raw", repeat)
    settings = stack.kafka_settings()
    ensure_topic(settings, topic, bench.settings.partitions)
    elapsed = produce_all(settings, topic, payloads)
    bench.record("raw_produce", len(payloads) / elapsed, messages=len(payloads), seconds=elapsed)
    stack.delete_topics(topic)


def producer(bench: Session, pristine: Path, repeat: int) -> str:
    """Figures `producer` and `producer_process`; the topic it filled."""
    customers = bench.settings.customers
    topic = bench.stack.name("changes", repeat)
    db = copy(bench.stack, pristine, f"producer-{repeat}")
    child = run_producer(bench, db, topic, f"producer-{repeat}")
    active, wall = run_to_exit([child], names.PRODUCER_ROWS_CAPTURED)
    bench.record(
        "producer",
        customers / active,
        changes=customers,
        active_seconds=active,
        wall_seconds=wall,
        peak_rss_bytes=child.peak_rss,
    )
    bench.record("producer_process", customers / wall, wall_seconds=wall)
    return topic


def run_producer(bench: Session, db: Path, topic: str, name: str) -> Child:
    """A producer capturing `db` into `topic` until it is idle."""
    return bench.stack.producer(
        name, db, topic, bench.settings.partitions, "--exit-when-idle", metrics=True
    )


def raw_consume(bench: Session, topic: str) -> int:
    """Figure `raw_consume`: librdkafka reading `topic` by assignment; the records it holds,
    checked against the customers the producer captured."""
    customers = bench.settings.customers
    elapsed, ends = consume_all(
        bench.stack.kafka_settings().client_properties(),
        topic,
        bench.settings.partitions,
        SERVICE_TIMEOUT,
    )
    total = sum(ends.values())
    if total != customers:
        raise PipelineError(
            f"topic {topic} holds {total} messages after the producer, expected "
            f"{customers} (one per customer): the producer lost or duplicated changes"
        )
    bench.record("raw_consume", total / elapsed, messages=total, seconds=elapsed)
    return total


def consumers(bench: Session, topic: str, total: int, count: int, repeat: int) -> None:
    """Figure `consumer` (with `consumer_process` and `consumer_first_record`), or
    `consumers_<count>`: `count` consumers in one group."""
    figure = "consumer" if count == 1 else f"consumers_{count}"
    group = bench.stack.name("sink", repeat, count)
    active, wall = consume(bench, figure, topic, total, group, count)
    if count == 1:
        bench.record("consumer_process", total / wall, wall_seconds=wall)
        bench.record("consumer_first_record", wall - active, wall_seconds=wall)


def consume(
    bench: Session, figure: str, topic: str, total: int, group: str, count: int, *extra: str
) -> tuple[float, float]:
    """Figure `figure`: `count` consumers of `group` (with `extra` options) read the whole
    topic and exit; records/s, once every record is committed. Returns the (active, wall)
    seconds of `probes.run_to_exit`."""
    stack = bench.stack
    children = [
        stack.consumer(f"{group}-{i}", topic, group, "--exit-when-idle", *extra, metrics=True)
        for i in range(count)
    ]
    active, wall = run_to_exit(children, names.CONSUMER_RECORDS_CONSUMED)
    committed = committed_offsets(
        stack.kafka_settings().client_properties(), topic, group, bench.settings.partitions
    )
    if sum(committed.values()) != total:
        raise PipelineError(
            f"{figure}: {count} consumer(s) exited having committed "
            f"{sum(committed.values())} of {total} records of {topic}: see {children[0].log}"
        )
    bench.record(
        figure,
        total / active,
        records=total,
        active_seconds=active,
        wall_seconds=wall,
        processes=count,
        peak_rss_bytes=max(child.peak_rss for child in children),
    )
    return active, wall


def baseline(bench: Session, payloads: Sequence[Payload], repeat: int) -> None:
    """Figure `baseline`: the seed design, one PutObject per record."""
    stack = bench.stack
    client = stack.s3_client()
    prefix = stack.name("baseline", repeat)
    started = time.perf_counter()
    for index, payload in enumerate(payloads):
        key = f"{prefix}/{datetime.now(UTC):%Y/%m/%d/%H%M%S%f}-{index}.binpb"
        client.put_object(Bucket=stack.bucket, Key=key, Body=payload.value)
    elapsed = time.perf_counter() - started
    bench.record("baseline", len(payloads) / elapsed, records=len(payloads), seconds=elapsed)
