"""Running the producer in tests and reading back what it published: the topic's records, the
capture state and the changes still pending."""

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from chinook_pipeline.local import kafka
from chinook_producer.capture_state import CaptureState, load_state
from chinook_producer.service import run_producer
from chinook_producer.settings import ProducerSettings
from chinook_shared import names
from chinook_shared.changes import FIELD_NAMES, CustomerChange, Operation
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings, partition_count

REQUIRED = {"customer_id", "first_name", "last_name", "email"}
T = TypeVar("T")


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes
    timestamp: int
    source: bytes | None
    change: CustomerChange

    @property
    def row(self) -> tuple[object, ...]:
        customer = (
            self.change.before
            if self.change.op == Operation.OPERATION_DELETE
            else self.change.after
        )
        return tuple(
            getattr(customer, name) if name in REQUIRED or customer.HasField(name) else None
            for name in FIELD_NAMES
        )


def read_topic(bootstrap: str, topic: str) -> list[Record]:
    """Every record of `topic` (all partitions, up to `_PARTITION_EOF`), in sequence order."""
    settings = KafkaSettings(bootstrap, extra={"allow.auto.create.topics": "false"})
    records = read_messages(settings, topic, "test-reader", _record)
    return sorted(records, key=lambda record: record.change.sequence)


def _record(message: Message) -> Record:
    headers = dict(message.headers() or [])
    return Record(
        message.partition(),
        message.offset(),
        message.key(),
        message.timestamp()[1],
        headers.get(names.SOURCE_HEADER),
        CustomerChange.FromString(message.value()),
    )


def read_messages(
    settings: KafkaSettings, topic: str, group: str, convert: Callable[[Message], T]
) -> list[T]:
    """Every message of `topic`, all partitions from offset 0 up to `_PARTITION_EOF`, converted
    as read (no offsets are committed, so the group is only a name)."""
    partitions = partition_count(settings, topic)
    if partitions == 0:
        return []
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    remaining, converted = set(range(partitions)), []
    try:
        while remaining:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    remaining.discard(message.partition())
                    continue
                converted.append(convert(message))
    finally:
        consumer.close()
    return converted


def produce(db: Path, broker: kafka.Cluster, topic: str, **options: object) -> None:
    settings = ProducerSettings(
        db,
        KafkaSettings(broker.bootstrap_servers),
        topic=topic,
        partitions=3,
        exit_when_idle=True,
        **options,
    )  # type: ignore[arg-type]
    run_producer(settings, Health(), threading.Event())


def state_of(db: Path) -> CaptureState:
    connection = sqlite3.connect(db)
    state = load_state(connection)
    connection.close()
    assert state is not None
    return state


def pending_changes(db: Path) -> int:
    connection = sqlite3.connect(db)
    count = connection.execute("SELECT COUNT(*) FROM chinook_cdc_change").fetchone()[0]
    connection.close()
    return int(count)


def assert_once_each(records: list[Record]) -> None:
    sequences = [record.change.sequence for record in records]
    assert len(sequences) == len(set(sequences)), "a change was published twice"


def latest_rows(records: list[Record]) -> dict[int, tuple[object, ...]]:
    """Replaying the changes: customer id -> row (deleted customers absent)."""
    rows: dict[int, tuple[object, ...]] = {}
    for record in records:
        if record.change.op == Operation.OPERATION_DELETE:
            rows.pop(record.change.customer_id, None)
        else:
            rows[record.change.customer_id] = record.row
    return rows


def table_rows(db: Path) -> dict[int, tuple[object, ...]]:
    connection = sqlite3.connect(db)
    rows = {row[0]: row for row in connection.execute("SELECT * FROM Customer")}
    connection.close()
    return rows
