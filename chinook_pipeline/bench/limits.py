"""The limits the services are measured against: librdkafka producing and consuming the same
messages at full speed, with no processing.

- Raw produce: from the first produce to the last acknowledgement (after one warm-up message).
- Raw consume: from the assignment to the last message received (the end of each partition is
  the `_PARTITION_EOF` offset, never ListOffsets, which Tansu answers wrongly).
"""

import shutil
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chinook_shared.errors import PipelineError
from chinook_shared.names import SOURCE_HEADER


@dataclass(frozen=True)
class Payload:
    key: bytes
    value: bytes
    timestamp_ms: int


def messages(db: Path, scratch: Path) -> list[Payload]:
    """The snapshot messages the producer would publish for `db`, made by the producer itself.

    Its capture takes the snapshot on a copy (`scratch`, removed afterwards), its reader returns
    the change rows, its encoder encodes them; key and timestamp are read by column name.
    """
    from chinook_producer import capture
    from chinook_producer.change_log import read_changes
    from chinook_producer.encoder import ChangeEncoder

    shutil.copyfile(db, scratch)
    try:
        with closing(sqlite3.connect(scratch, isolation_level=None)) as connection:
            capture.install(connection)
            rows = read_changes(connection, 0, -1)  # SQLite: LIMIT -1 is no limit
    finally:
        scratch.unlink()
    encoder = ChangeEncoder()
    return [
        Payload(str(row["customer_id"]).encode(), encoder.encode(row), row["captured_at_ms"])
        for row in rows
    ]


def produce_all(settings: Any, topic: str, payloads: Sequence[Payload]) -> float:
    """Seconds to produce every payload and have it acknowledged, with the producer service's
    own librdkafka properties (`chinook_producer.publisher.producer_properties`) and header."""
    from confluent_kafka import Producer

    from chinook_producer.publisher import producer_properties

    failures: list[str] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(error.str())

    producer = Producer(producer_properties(settings))
    producer.produce(topic, payloads[0].value, payloads[0].key)  # connected, producer id known
    producer.flush(30)
    headers = [(SOURCE_HEADER, b"bench")]
    started = time.perf_counter()
    for index, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(
                    topic,
                    payload.value,
                    payload.key,
                    timestamp=payload.timestamp_ms,
                    headers=headers,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.01)
        if index % 1000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    if left or failures:
        raise PipelineError(
            f"raw produce: {left} messages unacknowledged, {len(failures)} failed "
            f"({failures[:1]}): check the broker"
        )
    return elapsed


def consume_all(
    client_properties: Mapping[str, Any], topic: str, partitions: int, timeout: float
) -> tuple[float, dict[int, int]]:
    """Read every partition to its end by assignment, with no processing.

    Returns the seconds from the assignment to the last message received (connection set-up
    and first fetch included, the final empty fetch that reports the end not), and each
    partition's end. PipelineError when that takes over `timeout` seconds.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            **client_properties,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    ends: dict[int, int] = {}
    count = 0
    last = 0.0
    try:
        first = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + timeout
        while len(ends) < partitions:
            if time.monotonic() > deadline:
                raise PipelineError(f"raw consume: {topic} not read to its end in {timeout:.0f}s")
            batch = consumer.consume(1000, 0.05)
            now = time.perf_counter()
            for message in batch:
                error = message.error()
                if error is None:
                    last, count = now, count + 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    ends[message.partition()] = message.offset()
                else:
                    raise PipelineError(f"raw consume of {topic}: {error.str()}")
    finally:
        consumer.close()
    if count != sum(ends.values()):
        raise PipelineError(
            f"raw consume of {topic}: read {count} messages but the ends add up to {sum(ends.values())}"
        )
    return max(last - first, 1e-6), ends
