"""What the bench watches while the services run: their /metrics and exits, the group's committed
offsets, the database's change sequence, and the objects appearing in S3."""

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from chinook_pipeline.local.processes import DRAIN_TIMEOUT, Child, wait_for
from chinook_shared import names
from chinook_shared.errors import PipelineError

POLL_SECONDS: Final = 0.1
SERVICE_TIMEOUT: Final = 1800.0  # seconds a service may take over one figure
FRESHNESS_CUSTOMERS: Final = 1000  # seeded before the freshness figures' steady writes
MB: Final = 1_000_000


def run_to_exit(children: Sequence[Child], metric: str) -> tuple[float, float]:
    """Wait until every child has exited 0; (active, wall) seconds until the last exit, counted
    from the first time `metric` was above 0 on any child's /metrics (active: the work itself,
    without interpreter start-up and group join) and from the first start (wall)."""
    first = min(child.started for child in children)
    active_from = None
    while any([child.running() for child in children]):  # a list: reap every child that exited
        if active_from is None and any(
            child.metrics(timeout=0.5).get(metric, 0) > 0 for child in children
        ):
            active_from = time.monotonic()
        if time.monotonic() - first > SERVICE_TIMEOUT:
            break
        time.sleep(0.02 if active_from is None else 0.01)
    for child in children:
        child.wait(SERVICE_TIMEOUT)
    last = max(child.started + child.elapsed for child in children)
    return last - (active_from or first), last - first


def wait_for_commits(consumer: Child, records: int, children: Sequence[Child]) -> None:
    """Wait until `consumer` has committed `records` offsets (the snapshot is in S3);
    PipelineError when one of `children` exits meanwhile or after DRAIN_TIMEOUT."""

    def committed() -> bool | None:
        for child in children:
            if not child.running():
                raise PipelineError(
                    f"{child.name} exited with code {child.process.returncode}: see {child.log}"
                )
        return (
            True if consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED, 0) >= records else None
        )

    if wait_for(committed, DRAIN_TIMEOUT, POLL_SECONDS) is None:
        raise PipelineError(
            f"the snapshot of {records} customers did not reach S3 in {DRAIN_TIMEOUT:.0f}s"
        )


def committed_offsets(
    client_properties: Mapping[str, Any], topic: str, group: str, partitions: int
) -> dict[int, int]:
    """The group's committed offset of each partition (0 where nothing is committed)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client_properties, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=30
        )
    finally:
        consumer.close()
    return {tp.partition: max(tp.offset, 0) for tp in committed}


def last_change(db: Path) -> int:
    """The sequence of the last change ever captured in `db` (kept even after the producer
    deleted acknowledged changes, see `chinook_producer.sequence`); sequences are gap-free."""
    from chinook_producer.sequence import high_water

    with sqlite3.connect(db, timeout=30) as connection:
        return high_water(connection)


class ObjectWatcher:
    """Lists a prefix; for each change from sequence `first` on, the seconds from its capture to
    the listing that first showed its object (the latency a reader polling S3 would see)."""

    def __init__(self, client: Any, bucket: str, prefix: str, first: int) -> None:
        self.client, self.bucket, self.prefix, self.first = client, bucket, prefix, first
        self.seen: set[str] = set()
        self.latencies: dict[int, float] = {}  # change sequence -> seconds

    def poll(self) -> None:
        from chinook_pipeline.tools.verify import is_journal_key
        from chinook_shared.changes import CustomerChange
        from chinook_shared.framing import unframe

        listed_at = time.time()
        paginator = self.client.get_paginator("list_objects_v2")
        fresh = [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/")
            for item in page.get("Contents", ())
            if item["Key"] not in self.seen and not is_journal_key(item["Key"])
        ]
        for key in fresh:
            self.seen.add(key)
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for record in unframe(body):
                change = CustomerChange.FromString(record)
                if change.sequence >= self.first and change.sequence not in self.latencies:
                    self.latencies[change.sequence] = (
                        listed_at - change.captured_at.ToMilliseconds() / 1000
                    )
