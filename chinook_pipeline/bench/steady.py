"""A running pipeline under steady writes, for the freshness figures: a producer and a consumer
on a new database, and `write` changing it at `--freshness-rate` for `--freshness-seconds`."""

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from chinook_pipeline.bench.probes import (
    FRESHNESS_CUSTOMERS,
    POLL_SECONDS,
    SERVICE_TIMEOUT,
    last_change,
    wait_for_commits,
)
from chinook_pipeline.bench.session import Session
from chinook_pipeline.local.processes import DRAIN_TIMEOUT, Child


@contextmanager
def steady_pipeline(
    bench: Session, name: str, repeat: int, *consumer_args: str
) -> Iterator[tuple[Path, str, Child]]:
    """A producer and a consumer (`--flush-age`, `consumer_args`) on a new database of
    FRESHNESS_CUSTOMERS customers, running: (database, group, consumer) once the snapshot
    is committed. Stopped, and the topic deleted, afterwards."""
    from chinook_pipeline.tools.seed import seed_database
    from chinook_shared.kafka import ensure_topic

    settings, stack = bench.settings, bench.stack
    db = stack.work / f"{name}-{repeat}.db"
    seed_database(db, FRESHNESS_CUSTOMERS)
    topic, group = stack.name(name, repeat), stack.name(f"{name}-sink", repeat)
    ensure_topic(stack.kafka_settings(), topic, settings.partitions)  # subscribed at start
    services = [
        stack.producer(f"{name}-producer-{repeat}", db, topic, settings.partitions),
        stack.consumer(
            f"{name}-consumer-{repeat}",
            topic,
            group,
            *("--flush-age", str(settings.flush_age), *consumer_args),
            metrics=True,
        ),
    ]
    try:
        wait_for_commits(services[1], FRESHNESS_CUSTOMERS, services)
        yield db, group, services[1]
    finally:
        for child in services:
            child.stop()
    stack.delete_topics(topic)


def write_steadily(
    bench: Session,
    db: Path,
    name: str,
    repeat: int,
    poll: Callable[[], None],
    drained: Callable[[int], bool],
) -> int:
    """Run `write` on `db` at `--freshness-rate` for `--freshness-seconds`, calling `poll`
    every POLL_SECONDS meanwhile and afterwards, until `drained(changes written)` or
    DRAIN_TIMEOUT; the changes written."""
    settings = bench.settings
    first = last_change(db) + 1
    writer = bench.stack.spawn(
        name,
        "write",
        *("--db", str(db), "--rate", str(settings.freshness_rate)),
        *("--duration", str(settings.freshness_seconds), "--seed", str(repeat)),
    )
    while writer.running():
        poll()
        time.sleep(POLL_SECONDS)
    writer.wait(SERVICE_TIMEOUT)
    written = last_change(db) + 1 - first
    deadline = time.monotonic() + settings.flush_age + DRAIN_TIMEOUT
    while not drained(written) and time.monotonic() < deadline:
        poll()
        time.sleep(POLL_SECONDS)
    return written


def write_until_seen(
    bench: Session,
    db: Path,
    name: str,
    repeat: int,
    poll: Callable[[], None],
    latencies: Mapping[int, float],
) -> tuple[int, list[float]]:
    """`write_steadily` until `latencies` (change sequence -> seconds, filled by `poll`) holds
    every change written: (the changes written, the latencies seen)."""
    written = write_steadily(
        bench, db, name, repeat, poll, lambda written: len(latencies) >= written
    )
    return written, list(latencies.values())
