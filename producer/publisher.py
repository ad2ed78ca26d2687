"""Publishing encoded changes with librdkafka and feeding its delivery reports to the tracker.

The client is idempotent with `acks=all`, so retries never duplicate or reorder messages within
a partition, and `message.timeout.ms=0` makes it retry for as long as the broker is away. Its
queue is bounded: when full, `publish` serves delivery reports until there is room, which holds
back reading from SQLite (bounded memory). Dead letters (see `chinook_producer.dead_letters`) go through
the same client to the dead-letter topic; their delivery acknowledges their sequence too.

Every message of one read of change rows is a `Read`: each delivery report is checked (an error
or a report without a real offset fails the session, as before), but the tracker hears of the
read once, when its last message is delivered, instead of once per message. The checkpoint so
moves a read at a time and never past an undelivered change; reading and encoding the next read
overlap the deliveries of this one.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from chinook_producer.ack_tracker import AckTracker
from chinook_producer.dead_letters import DeadLetter, dead_letter_topic
from chinook_producer.encoder import UnencodableRow, sequence_of
from chinook_producer.metrics import (
    DEAD_LETTERS,
    DELIVERY_ERRORS,
    DELIVERY_LATENCY,
    MESSAGES_PUBLISHED,
)
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from chinook_shared.names import SOURCE_HEADER

log = logging.getLogger(__name__)

LATENCY_SAMPLE: Final = 16  # one acknowledgement in this many is observed in the latency histogram
METADATA_TIMEOUT: Final = 5.0  # seconds the client may take to connect before the first change

DEFAULTS: Final[dict[str, Any]] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "compression.type": "lz4",
    "message.timeout.ms": 0,
    # How long a request may go unanswered before librdkafka gives up on the connection. A
    # leader that hangs without closing it (SIGSTOP, a stalled VM) holds its partitions' pending
    # requests, and an idempotent producer sends nothing to the new leader until they are over:
    # librdkafka's 60 s default stalled those partitions for 61 s on a three-node cluster, 15 s
    # for 17.7 s (tests/faults/test_kafka_failover.py). Still above a broker's session (9 s),
    # after which a dead follower leaves the in-sync replicas and `acks=all` is answered.
    "socket.timeout.ms": 15_000,
    # Each queued change holds ~0.9 KB (librdkafka's copy and its Python delivery callback); once
    # connected ~7k are in flight at full speed, so 20k bounds memory without slowing publishing.
    "queue.buffering.max.messages": 20_000,
    # Java clients' key hashing, so a key lands on the same partition whichever client wrote it.
    "partitioner": "murmur2_random",
}


class Read:
    """The messages of one read: how many were queued and delivered, and per partition the
    highest offset delivered. Once sealed (every change of the read queued) and every message
    delivered, its sequences are acknowledged to the tracker in one call.

    `delivered` is the delivery callback of every message of the read: the hot path, so it does
    no more than check the report and count it.
    """

    __slots__ = (
        "_offsets",
        "_publisher",
        "_sealed",
        "_seqs",
        "delivered_count",
        "letters",
        "queued",
    )

    def __init__(self, publisher: "Publisher", seqs: Sequence[int]) -> None:
        self._publisher = publisher
        self._seqs = seqs
        self._offsets: dict[int, int] = {}
        self.queued = 0
        self.delivered_count = 0  # messages in the topic
        self.letters = 0  # dead letters in the dead-letter topic
        self._sealed = False

    def seal(self) -> None:
        """Every change of the read is queued: acknowledge them once all are delivered."""
        self._sealed = True
        self._maybe_done()

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        offset = message.offset()
        partition = message.partition()
        publisher = self._publisher
        if error is not None or offset is None or offset < 0 or partition in publisher.unconfirmed:
            publisher.undelivered(error, message)
            return
        offsets = self._offsets
        if offset > offsets.get(partition, -1):
            offsets[partition] = offset
        self.delivered_count += 1
        if self.delivered_count % LATENCY_SAMPLE == 1:
            DELIVERY_LATENCY.observe(message.latency() or 0.0)
        if self._sealed:
            self._maybe_done()

    def dead_lettered(self, seq: int, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._publisher.dead_letter_failed(seq, error)
            return
        DEAD_LETTERS.inc()
        self.letters += 1
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._sealed and self.delivered_count + self.letters == self.queued:
            self._sealed = False  # acknowledged once
            self._publisher.done(self)
            self._publisher.tracker.ack_all(self._seqs, self._offsets)


def producer_properties(settings: KafkaSettings) -> dict[str, Any]:
    """librdkafka properties: our defaults, overridden by the connection settings and extras."""
    return {**DEFAULTS, **settings.client_properties()}


class Publisher:
    """Produces changes to `topic`; acknowledged sequences go to `tracker`, a read at a time.

    After a delivery error (the client gave up on a message) `failed` is set and stays set: the
    caller must stop, flush and recover before continuing, since a message is missing.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        source_id: str,
        tracker: AckTracker,
        health: Health,
    ) -> None:
        self._topic = topic
        self._dead_letter_topic = dead_letter_topic(topic)
        self._headers = [(SOURCE_HEADER, source_id.encode())]
        self.tracker = tracker
        self._health = health
        self._broker_problem = False
        self.failed = False
        self.unconfirmed: set[int] = set()  # partitions whose reports are no longer trusted
        self._producer = Producer({**producer_properties(settings), "error_cb": self._on_error})
        self._produce_one = self._producer.produce
        self._connect()
        self._open: set[Read] = set()  # reads not yet acknowledged
        self._acked = 0  # deliveries of the reads acknowledged so far
        self._counted = 0  # of all deliveries, those counted in the published metric

    def _connect(self) -> None:
        """Fetch the topic's metadata before the first change is queued: the client is then
        ready to send at once, where deliveries of a client whose first produce() came before
        it had any metadata start 0.5-1 s late (measured on Tansu). Best effort: a broker not
        answering now is waited out by the client's own retries, as ever."""
        with suppress(KafkaException):
            self._producer.list_topics(self._topic, timeout=METADATA_TIMEOUT)

    def read(self, seqs: Sequence[int]) -> Read:
        """A new read whose messages are the changes `seqs` (every one of them, in order)."""
        read = Read(self, seqs)
        self._open.add(read)
        return read

    def done(self, read: Read) -> None:
        """`read` is acknowledged: its deliveries move to the running total."""
        self._open.discard(read)
        self._acked += read.delivered_count

    def publish_all(
        self,
        read: Read,
        keys: Sequence[str],
        values: Sequence[bytes],
        timestamps: Sequence[int],
        stop: threading.Event,
    ) -> int:
        """Queue one change per value as messages of `read`, in order, waiting while the queue
        is full; how many were queued. Fewer than all only when `stop` was set while waiting, or
        when the client refused the change at the returned index as too large (the caller
        publishes the rest row by row, which dead-letters that one).

        The hot loop of the producer: positional arguments and one delivery callback for the
        whole read (a partial per message cost about 1.3 us more per change, measured).
        """
        produce, topic, report, headers = (
            self._produce_one,
            self._topic,
            read.delivered,
            self._headers,
        )
        start, count = 0, len(values)
        while True:
            index = start
            try:
                for index in range(start, count):
                    produce(
                        topic,
                        values[index],
                        keys[index],
                        -1,
                        report,
                        None,
                        timestamps[index],
                        headers,
                    )
            except BufferError:
                read.queued += index - start
                if not self._wait_for_room(stop):
                    return index
                start = index
                continue
            except KafkaException as error:
                read.queued += index - start
                if error.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                    raise
                return index
            read.queued += count - start
            return count

    def publish(
        self,
        read: Read,
        seq: int,
        key: bytes,
        value: bytes,
        timestamp_ms: int,
        stop: threading.Event,
    ) -> bool:
        """Queue one change as a message of `read`, waiting while the queue is full; False if
        `stop` was set meanwhile.

        Raises UnencodableRow when the client refuses the message as too large.
        """
        try:
            queued = self._produce(
                self._topic, key, value, self._headers, timestamp_ms, read.delivered, stop
            )
        except KafkaException as error:
            if error.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
            raise UnencodableRow(f"change {seq}: {error.args[0].str()}") from None
        read.queued += queued
        return queued

    def dead_letter(self, read: Read, seq: int, letter: DeadLetter, stop: threading.Event) -> bool:
        """Queue the dead letter of change `seq` of `read`; False if `stop` was set while the
        queue was full."""
        report = partial(read.dead_lettered, seq)
        topic = self._dead_letter_topic
        queued = self._produce(
            topic, letter.key, letter.value, letter.headers, letter.timestamp_ms, report, stop
        )
        read.queued += queued
        return queued

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        timestamp_ms: int | None,
        report: Callable[[KafkaError | None, Message], None],
        stop: threading.Event,
    ) -> bool:
        when = {} if timestamp_ms is None else {"timestamp": timestamp_ms}
        while True:
            try:
                self._produce_one(topic, value, key, headers=headers, on_delivery=report, **when)
                return True
            except BufferError:
                if not self._wait_for_room(stop):
                    return False

    def _wait_for_room(self, stop: threading.Event) -> bool:
        """The client's queue is full: serve delivery reports for a while; False once `stop` is set."""
        if stop.is_set():
            return False
        self._health.beat()
        self.poll(0.1)
        return True

    def poll(self, timeout: float) -> None:
        """Serve delivery reports, waiting up to `timeout` seconds for the first."""
        self._producer.poll(timeout)
        self._count_published()

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for every report; returns how many are still outstanding."""
        remaining = int(self._producer.flush(timeout))
        self._count_published()
        return remaining

    def _count_published(self) -> None:
        """Add the acknowledgements served since the last call to the published counter (one
        counter update per poll instead of one per message)."""
        delivered = self._acked + sum(read.delivered_count for read in self._open)
        if delivered != self._counted:
            MESSAGES_PUBLISHED.inc(delivered - self._counted)
            self._counted = delivered
            if self._broker_problem:
                self._broker_problem = False
                self._health.recover("broker")

    def undelivered(self, error: KafkaError | None, message: Message) -> None:
        """A report of a message that is not (known to be) in the topic: the session fails."""
        seq = sequence_of(message.value())
        if error is not None:
            DELIVERY_ERRORS.inc()
            self.failed = True
            log.error("delivery of change %s to %s failed: %s", seq, self._topic, error.str())
            self._health.degrade("delivery", f"change {seq} not delivered: {error.str()}")
            return
        self._distrust(seq, message.partition())

    def _distrust(self, seq: int, partition: int) -> None:
        """A success report without a real offset: the broker answered a retried batch with
        DUPLICATE_SEQUENCE_NUMBER and librdkafka took that for delivery. Tansu says so after a
        restart for batches it never stored, so the change is not acknowledged; the rest of that
        partition's reports in this session are suspect too (librdkafka numbers them from the
        missing base offset). The session ends and recovery reads the topic to republish exactly
        the changes that are not there."""
        if partition not in self.unconfirmed:
            self.unconfirmed.add(partition)
            DELIVERY_ERRORS.inc()
            log.warning(
                "the broker reported change %s on %s[%d] as a duplicate without an offset: "
                "checking the topic and republishing what is missing",
                seq,
                self._topic,
                partition,
            )
        self.failed = True

    def dead_letter_failed(self, seq: int, error: KafkaError) -> None:
        DELIVERY_ERRORS.inc()
        self.failed = True
        log.error(
            "dead letter of change %s to %s failed: %s",
            seq,
            self._dead_letter_topic,
            error.str(),
        )
        self._health.degrade(
            "delivery", f"dead letter of change {seq} not delivered: {error.str()}"
        )

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.failed = True
            log.error("Kafka producer failed: %s", error.str())
        else:
            log.warning("Kafka client: %s", error.str())
        self._broker_problem = True
        self._health.degrade("broker", error.str())
