"""The dead-letter topic: records the consumer cannot store are written there, never skipped.

A rejected record stays with the batch it arrived in and is written when that batch is flushed,
with its original value bytes and timestamp, the original key in header `chinook-dlq-key`, and
headers naming where it came from and why it was rejected.

Guarantees:
- A partition's batch counts as durable only when every dead letter in it is acknowledged by the
  broker (idempotent producer, `acks=all`), so no offset past a dead letter is committed before
  the dead letter is safe.
- Within one process a dead letter is produced once, however often a failed flush is retried.
- Across processes it is at-least-once: a crash (or a lost partition) between the broker's
  acknowledgement and the offset commit, or a replay from an older offset, writes it again.
  Every copy has the same Kafka key `<topic>/<partition>/<offset>` and the same headers, so
  readers of the dead-letter topic deduplicate by key (or compact the topic).
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaError, Message, Producer

from chinook_consumer import metrics
from chinook_shared.errors import PipelineError
from chinook_shared.kafka import KafkaSettings, ensure_topic
from chinook_shared.names import (
    DLQ_ERROR_HEADER,
    DLQ_KEY_HEADER,
    DLQ_OFFSET_HEADER,
    DLQ_PARTITION_HEADER,
    DLQ_STAGE_HEADER,
    DLQ_TOPIC_HEADER,
)

log = logging.getLogger(__name__)

STAGE: Final = "consume"
PARTITIONS: Final = 1  # used when the dead-letter topic has to be created
_Where = tuple[int, int]  # (partition, offset) of the rejected record


@dataclass(frozen=True)
class DeadLetter:
    """A rejected record, as received, and why it was rejected."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int | None
    error: str
    headers: tuple[tuple[str, bytes], ...] = ()


class DeadLetterError(Exception):
    """Some dead letters of a batch are not acknowledged: the batch must not be committed."""


def dead_letter_key(topic: str, partition: int, offset: int) -> bytes:
    """The Kafka key of a dead letter: the same for every copy of it, so copies deduplicate."""
    return f"{topic}/{partition}/{offset}".encode()


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The original headers, then where the record came from and why it was rejected."""
    headers = [
        *letter.headers,
        (DLQ_TOPIC_HEADER, letter.topic.encode()),
        (DLQ_PARTITION_HEADER, str(letter.partition).encode()),
        (DLQ_OFFSET_HEADER, str(letter.offset).encode()),
        (DLQ_ERROR_HEADER, letter.error.encode()),
        (DLQ_STAGE_HEADER, STAGE.encode()),
    ]
    if letter.key is not None:
        headers.append((DLQ_KEY_HEADER, letter.key))
    return headers


def dead_letter_producer_properties(settings: KafkaSettings) -> dict[str, Any]:
    """librdkafka properties: defaults, the connection settings, then what correctness needs.

    `message.timeout.ms=0` keeps retrying while the broker is away (the batch waits meanwhile).
    """
    return {
        "client.id": "chinook-consumer-dlq",
        "linger.ms": 5,
        "message.timeout.ms": 0,
        **settings.client_properties(),
        "enable.idempotence": True,
        "acks": "all",
    }


class DeadLetterWriter:
    """Writes dead letters to `topic` (created with `PARTITIONS` partitions when missing)."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self._settings, self._topic = settings, topic
        self._producer: Producer | None = None
        self._pending: set[_Where] = set()
        self._acked: set[_Where] = set()
        self._failed: dict[_Where, str] = {}

    def deliver(
        self, letters: Mapping[int, Sequence[DeadLetter]], timeout: float
    ) -> dict[int, Exception | None]:
        """Produce the letters not produced yet (or whose delivery failed), wait up to `timeout`
        seconds for the broker; per partition, None when all its letters are acknowledged."""
        wanted = {partition: list(items) for partition, items in letters.items() if items}
        if not wanted:
            return {}
        try:
            producer = self._open()
        except PipelineError as error:
            return {partition: DeadLetterError(str(error)) for partition in wanted}
        for items in wanted.values():
            for letter in items:
                where = (letter.partition, letter.offset)
                if where not in self._pending and where not in self._acked:
                    self._produce(producer, letter, where)
        producer.flush(timeout)
        results: dict[int, Exception | None] = {}
        for partition, items in wanted.items():
            places = {(letter.partition, letter.offset) for letter in items}
            missing = sorted(places - self._acked)
            results[partition] = self._error(partition, missing) if missing else None
            if not missing:
                self._acked -= places
        return results

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is known of these partitions' letters (revoked or lost: a new owner
        writes them again if their batch was not committed)."""
        gone = set(partitions)
        for known in (self._pending, self._acked):
            known.difference_update({where for where in known if where[0] in gone})
        for where in [where for where in self._failed if where[0] in gone]:
            del self._failed[where]

    def close(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for outstanding letters (their batches are uncommitted
        unless acknowledged, so what is dropped here is written again by the next owner)."""
        if self._producer is not None:
            self._producer.flush(timeout)

    def _open(self) -> Producer:
        if self._producer is None:
            ensure_topic(self._settings, self._topic, PARTITIONS)
            self._producer = Producer(dead_letter_producer_properties(self._settings))
        return self._producer

    def _produce(self, producer: Producer, letter: DeadLetter, where: _Where) -> None:
        self._failed.pop(where, None)
        self._pending.add(where)
        while True:
            try:
                producer.produce(
                    self._topic,
                    letter.value,
                    dead_letter_key(letter.topic, letter.partition, letter.offset),
                    headers=dead_letter_headers(letter),
                    on_delivery=lambda error, message: self._delivered(where, error, message),
                    **({} if letter.timestamp_ms is None else {"timestamp": letter.timestamp_ms}),
                )
                return
            except BufferError:
                producer.poll(0.1)

    def _delivered(self, where: _Where, error: KafkaError | None, message: Message) -> None:
        if where not in self._pending:
            return  # forgotten meanwhile
        self._pending.discard(where)
        if error is not None:
            self._failed[where] = error.str()
            log.warning(
                "dead letter of partition %d offset %d not delivered: %s", *where, error.str()
            )
            return
        self._acked.add(where)
        metrics.DEAD_LETTERS.inc()

    def _error(self, partition: int, missing: list[_Where]) -> DeadLetterError:
        failures = [self._failed[where] for where in missing if where in self._failed]
        why = failures[0] if failures else "no acknowledgement yet"
        return DeadLetterError(
            f"{len(missing)} dead letter(s) of partition {partition} not written to topic "
            f"{self._topic!r} ({why})"
        )
