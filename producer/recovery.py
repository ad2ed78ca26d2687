"""Where to resume after any stop, including a crash between the broker's ack and the checkpoint.

The topic itself is the record of what was published: every partition is read from the
checkpoint's offset to its end, and the changes of this source found there are acknowledged
without being published again. This makes publishing exactly-once across producer crashes.
When the topic lost what the checkpoint says it holds (recreated, or an in-memory broker
restarted), or capture moves to another topic, the pending changes are replaced by a fresh
snapshot (Debezium's `snapshot.mode=when_needed`).
"""

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from google.protobuf.message import DecodeError

from chinook_producer import capture
from chinook_producer.capture_state import CaptureState, set_topic
from chinook_producer.database import Database
from chinook_shared.changes import CustomerChange
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings, ensure_topic, partition_count
from chinook_shared.names import SOURCE_HEADER

log = logging.getLogger(__name__)

_STALL_WARNING: Final = 10.0  # seconds without progress before /healthz reports degraded
# consume() returns once its batch is full or this wait is over, even with the ends of every
# partition already in hand: a short wait keeps the scan of a small or empty topic short.
_CONSUME_WAIT: Final = 0.02  # seconds
_OUT_OF_RANGE: Final = frozenset({KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE})


@dataclass(frozen=True)
class Recovery:
    """The state to resume from and the pending changes already in the topic."""

    state: CaptureState
    published: dict[int, tuple[int, int]]  # sequence -> (partition, offset)
    partitions: int


def recover(
    db: Database,
    settings: KafkaSettings,
    topic: str,
    partitions: int,
    health: Health,
    stop: threading.Event,
) -> Recovery | None:
    """Install capture if needed and reconcile the change table with the topic (created if missing).

    Returns None if `stop` is set before the topic has been read.
    """
    state = db.run(capture.install)
    reason = snapshot_reason(state, topic, partition_count(settings, topic))
    if reason:
        state = _resnapshot(db, state, topic, reason)
    partitions = ensure_topic(settings, topic, partitions)
    scan = scan_topic(settings, topic, partitions, state, health, stop)
    if scan is None:
        return None
    published, ends = scan
    reason = truncation_reason(state.partition_offsets, ends)
    if reason:
        return Recovery(_resnapshot(db, state, topic, reason), {}, partitions)
    if state.topic is None:
        db.run(lambda connection: set_topic(connection, topic))
    if published:
        log.info(
            "recovery: %d pending change(s) already in topic %s, not publishing them again",
            len(published),
            topic,
        )
    return Recovery(state, published, partitions)


def snapshot_reason(state: CaptureState, topic: str, partitions: int) -> str | None:
    """Why the topic cannot hold what the state says it does (before reading it), or None."""
    if state.topic is not None and state.topic != topic:
        return f"capture moves from topic {state.topic!r} to {topic!r}"
    if not state.partition_offsets:
        return None
    if partitions == 0:
        return f"topic {topic!r} no longer exists"
    missing = sorted(p for p in state.partition_offsets if p >= partitions)
    if missing:
        return (
            f"topic {topic!r} has {partitions} partitions, lacking recorded partition(s) {missing}"
        )
    return None


def truncation_reason(recorded: Mapping[int, int], ends: Mapping[int, int]) -> str | None:
    """Why a partition that ends below its recorded next offset lost messages, or None."""
    short = {p: end for p, end in ends.items() if end < recorded.get(p, 0)}
    if not short:
        return None
    return ", ".join(
        f"partition {p} ends at offset {end}, below {recorded[p]}"
        for p, end in sorted(short.items())
    )


def scan_topic(
    settings: KafkaSettings,
    topic: str,
    partitions: int,
    state: CaptureState,
    health: Health,
    stop: threading.Event,
) -> tuple[dict[int, tuple[int, int]], dict[int, int]] | None:
    """Read every partition from the recorded offset to its end.

    Returns ({sequence: (partition, offset)} of this source's changes beyond the checkpoint,
    {partition: end offset} of partitions that end below the recorded offset), or None if `stop`
    is set first. The end comes from `_PARTITION_EOF` (the broker's high watermark in fetch
    responses); Tansu answers a fetch beyond the end with neither an error nor EOF, so the
    watermark cached from that fetch is checked too.
    """
    source = state.source_id.encode()
    starts = {p: state.partition_offsets.get(p, 0) for p in range(partitions)}
    published: dict[int, tuple[int, int]] = {}
    short: dict[int, int] = {}
    consumer = Consumer(
        {
            **settings.client_properties(),
            "group.id": f"chinook-producer-recovery-{state.source_id}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            "fetch.wait.max.ms": 20,  # reading to the end: an empty fetch should answer at once
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])
        remaining = set(starts)
        progress = time.monotonic()
        while remaining:
            if stop.is_set():
                return None
            health.beat()
            messages = consumer.consume(10_000, timeout=_CONSUME_WAIT)
            if messages:
                progress = time.monotonic()
                health.recover("recovery")
            elif time.monotonic() - progress > _STALL_WARNING:
                health.degrade(
                    "recovery", f"waiting to read topic {topic!r} partitions {sorted(remaining)}"
                )
            for message in messages:
                error = message.error()
                if error is None:
                    _collect(message, source, state.acked_seq, published)
                elif error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(message.partition())
                elif error.code() in _OUT_OF_RANGE:
                    short[message.partition()] = -1
                    remaining.discard(message.partition())
                else:
                    log.warning("recovery: reading topic %s: %s", topic, error.str())
            for p in list(remaining):
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                if 0 <= high < starts[p]:
                    short[p] = high
                    remaining.discard(p)
        health.recover("recovery")
        return published, short
    finally:
        consumer.close()


def _collect(
    message: Message, source: bytes, acked_seq: int, published: dict[int, tuple[int, int]]
) -> None:
    headers = message.headers() or ()
    if not any(name == SOURCE_HEADER and value == source for name, value in headers):
        return
    try:
        seq = CustomerChange.FromString(message.value()).sequence
    except DecodeError:
        log.warning(
            "recovery: undecodable message at offset %s of partition %s",
            message.offset(),
            message.partition(),
        )
        return
    if seq > acked_seq:
        published[seq] = (message.partition(), message.offset())


def _resnapshot(db: Database, state: CaptureState, topic: str, reason: str) -> CaptureState:
    log.warning("%s: taking a fresh snapshot of the database into topic %s", reason, topic)
    return db.run(lambda connection: capture.resnapshot(connection, state, topic))
