"""The consumer service: Kafka records -> batches per partition -> S3 objects -> committed offsets.

A due batch is detached from its partition and made durable on a worker thread (intent, encoding,
upload) while the loop keeps consuming into a new batch; the loop commits it once it is durable.
A partition has at most one batch on its way at a time, so its intents, uploads and commits stay
in offset order, and a partition whose next batch is full waits for the previous one.

Guarantees:
- An offset is committed only after every record below it is in S3 or, rejected as poison, in the
  dead-letter topic (see `dead_letters.py`), so a crash never loses a record; the journal (see
  `journal.py`) makes the replay after a crash rewrite the same keys, so no record is stored twice
  either.
- An S3 outage pauses the affected partitions and retries their batches with backoff for as long
  as it lasts; nothing is dropped and `/healthz` reports `degraded` meanwhile.
- On revocation the revoked partitions' batches are flushed and committed (one attempt; a failed
  one is left uncommitted for the next owner). Lost partitions are dropped uncommitted: another
  member may already own them.
- On stop: flush, upload, commit, leave the group, within `shutdown_timeout`; what is not durable
  by then stays uncommitted and is consumed again by the next owner.
"""

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from consumer import metrics
from consumer.batcher import FlushLimits, PartitionBuffer
from consumer.config import ConsumerConfig
from consumer.dead_letters import DeadLetter, DeadLetterError, DeadLetterWriter
from consumer.flusher import Flusher
from consumer.formats import object_format
from consumer.journal import Journal, resume_point
from consumer.poison import parse_change, reject
from consumer.uploader import Uploader, retry_delay
from shared.errors import PipelineError
from shared.kafka import admin_client, check_broker
from shared.metrics import Health
from shared.s3 import check_bucket, describe_error, make_client

log = logging.getLogger(__name__)

POLL_MESSAGES: Final = 5000
POLL_TIMEOUT: Final = 0.2
POLL_TIMEOUT_IN_FLIGHT: Final = 0.005  # a finished upload is committed without waiting for records
GAUGE_INTERVAL: Final = 1.0
KAFKA_TIMEOUT: Final = 30.0
TOPIC_POLL_INTERVAL: Final = 1.0
DEAD_LETTER_TIMEOUT: Final = (
    10.0  # seconds a flush waits for the broker to acknowledge dead letters
)


@dataclass
class Batch:
    """A partition's batch on its way to S3, detached from the buffer that goes on filling."""

    buffer: PartitionBuffer
    dead_letters: list[DeadLetter]
    upload: "Future[dict[int, Exception | None]] | None" = None  # None: not running


@dataclass
class PartitionState:
    """What the service knows about one assigned partition."""

    next_offset: int | None
    committed: int | None
    buffer: PartitionBuffer
    forced_end: int | None = None
    dead_letters: list[DeadLetter] = field(default_factory=list)  # rejected records of `buffer`
    batch: Batch | None = None  # the batch being made durable, or failed and waiting for a retry
    failures: int = 0
    retry_at: float | None = None
    eof: bool = False

    @property
    def waiting(self) -> bool:
        """The batch failed to upload: the partition is paused until a retry succeeds."""
        return self.retry_at is not None

    @property
    def in_flight(self) -> bool:
        return self.batch is not None and self.batch.upload is not None

    @property
    def records(self) -> int:
        """Records held and not yet durable."""
        return self.buffer.count + (self.batch.buffer.count if self.batch else 0)

    @property
    def forced_incomplete(self) -> bool:
        """A journal-rebuilt batch that does not yet reach its recorded end: flushing it now
        would write different objects under the previous incarnation's keys."""
        return self.forced_end is not None and (self.buffer.end or 0) < self.forced_end


def consumer_settings(config: ConsumerConfig) -> dict[str, Any]:
    """librdkafka configuration: defaults, then pass-through settings, then the ones correctness
    needs. A 10 s session timeout (Kafka's pre-3.0 default) matters on Tansu, which holds a
    JoinGroup for about half the session timeout: 45 s would mean a 23 s wait at every start.

    Fetching: librdkafka backs a partition off for `fetch.queue.backoff.ms` (1 s by default)
    whenever its prefetch queue is over the thresholds, which a consumer that parses every record
    hits all the time on a backlog; 10 ms keeps it fetching (2.5x the rate on 200k records), and
    a broker that holds an empty fetch for the whole `fetch.wait.max.ms` costs 100 ms, not 500.
    """
    return {
        "client.id": "chinook-consumer",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "fetch.queue.backoff.ms": 10,
        "fetch.wait.max.ms": 100,
        **config.kafka.client_config(),
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.partition.eof": True,
    }


def run_consumer(config: ConsumerConfig, health: Health, stop: threading.Event) -> None:
    """Consume `config.topic` into `config.bucket` until `stop` is set (or, with
    `exit_when_idle`, until every assigned partition is drained, uploaded and committed).

    Raises PipelineError when the broker or the bucket cannot be used at start.
    """
    check_broker(config.kafka)
    client = make_client(config.s3)
    check_bucket(client, config.bucket)
    if not _wait_for_topic(config, health, stop):
        return
    uploader = Uploader(
        client,
        config.bucket,
        config.upload_concurrency,
        config.multipart_threshold,
        config.multipart_chunksize,
    )
    service = _Service(config, health, stop, uploader)
    try:
        service.run()
    finally:
        uploader.close(cancel=service.abandoned)


def _wait_for_topic(config: ConsumerConfig, health: Health, stop: threading.Event) -> bool:
    """Wait until the topic exists (the producer creates it); False when stopped first.

    Subscribing to a missing topic would leave librdkafka idle until its next periodic metadata
    refresh, minutes later. With `exit_when_idle` a missing topic is an error instead.
    """
    if _topic_exists(config):
        return True
    if config.exit_when_idle:
        raise PipelineError(
            f"topic {config.topic!r} does not exist at {config.kafka.bootstrap_servers}: "
            "run the producer first or fix --topic"
        )
    log.info("waiting for topic %s to be created (by the producer)", config.topic)
    health.degrade("topic", f"topic {config.topic} does not exist yet")
    while not stop.wait(TOPIC_POLL_INTERVAL):
        health.beat()
        if _topic_exists(config):
            health.recover("topic")
            return True
    return False


def _topic_exists(config: ConsumerConfig) -> bool:
    """Whether the topic exists, asked without naming it: a metadata request for one named topic
    makes some brokers (Tansu) create it."""
    try:
        metadata = admin_client(config.kafka).list_topics(timeout=KAFKA_TIMEOUT)
    except KafkaException as error:
        raise PipelineError(
            f"cannot list topics: {error.args[0].str()}: check the broker"
        ) from None
    return config.topic in metadata.topics


class _Service:
    def __init__(
        self, config: ConsumerConfig, health: Health, stop: threading.Event, uploader: Uploader
    ) -> None:
        self._config, self._health, self._stop = config, health, stop
        self._topic = config.topic
        self._limits = FlushLimits(config.flush_records, config.flush_bytes, config.flush_age)
        self._journal = Journal(uploader, config.prefix, config.group_id, config.topic)
        self._flusher = Flusher(
            uploader,
            self._journal,
            config.layout,
            config.prefix,
            config.topic,
            object_format(config.format, config.compression, config.gzip_level),
        )
        self._dead_letters = DeadLetterWriter(config.kafka, config.dead_letter_topic)
        self._uploads = ThreadPoolExecutor(config.upload_concurrency, "chinook-flush")
        self._states: dict[int, PartitionState] = {}
        self._abandoned = False  # an upload outlived the shutdown deadline
        self._gauges_at = 0.0
        self._consumer = Consumer(consumer_settings(config), error_cb=_log_kafka_error)

    @property
    def abandoned(self) -> bool:
        """An upload was still running at the shutdown deadline (its batch is not committed)."""
        return self._abandoned

    def run(self) -> None:
        self._consumer.subscribe(
            [self._topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not self._stop.is_set():
                self._health.beat()
                now = time.monotonic()
                timeout = POLL_TIMEOUT_IN_FLIGHT if self._in_flight() else POLL_TIMEOUT
                self._receive(self._consumer.consume(POLL_MESSAGES, timeout), now)
                now = time.monotonic()
                self._collect(self._full())
                self._send(self._due(now))
                self._update_gauges()
                if self._config.exit_when_idle and self._drained():
                    log.info("every assigned partition is drained, uploaded and committed")
                    break
            self._shutdown()
        finally:
            self._states.clear()  # nothing left to flush when close() revokes
            self._uploads.shutdown(wait=not self._abandoned, cancel_futures=True)
            self._consumer.close()
            self._dead_letters.close(DEAD_LETTER_TIMEOUT)

    # --- records -----------------------------------------------------------------------------

    def _receive(self, messages: list[Message], now: float) -> None:
        consumed = 0
        states = self._states
        for message in messages:
            if message.error() is not None:
                self._event(message)
                continue
            partition = message.partition()
            state = states.get(partition)
            if state is None or state.waiting:
                continue  # revoked, or paused: re-read after the retry succeeds
            offset = message.offset()
            if state.next_offset is not None and offset < state.next_offset:
                continue  # already buffered before a seek
            if state.forced_end is not None and offset >= state.forced_end:
                self._end_forced_batch(partition, state)  # a gap in the offsets: batch complete
                if state.waiting:
                    continue
            state.next_offset = offset + 1
            state.eof = False
            consumed += 1
            self._buffer(state, message, offset, now)
            if state.forced_end is not None and offset + 1 >= state.forced_end:
                self._end_forced_batch(partition, state)
        if consumed:
            metrics.RECORDS_CONSUMED.inc(consumed)

    def _event(self, message: Message) -> None:
        """An end-of-partition event or an error from librdkafka."""
        error = message.error()
        if error.code() == KafkaError._PARTITION_EOF:
            state = self._states.get(message.partition())
            if state is not None:
                state.eof = True
        elif error.fatal():
            raise PipelineError(f"Kafka consumer failed: {error.str()}: check the broker")
        else:
            log.warning("Kafka: %s", error.str())

    def _end_forced_batch(self, partition: int, state: PartitionState) -> None:
        if state.buffer.empty:
            state.forced_end = None
        else:
            self._send({partition: state})

    def _buffer(self, state: PartitionState, message: Message, offset: int, now: float) -> None:
        value = message.value()
        if value is None:
            state.buffer.cover(offset, now)  # a tombstone carries no change
            return
        change, problem = parse_change(value)
        if change is None:
            state.dead_letters.append(reject(message, problem or "unusable record"))
            state.buffer.cover(offset, now)
            return
        kind, timestamp = message.timestamp()
        if kind == TIMESTAMP_NOT_AVAILABLE:
            timestamp = change.captured_at.ToMilliseconds()
        state.buffer.add(offset, timestamp, value, now)

    # --- flushing ----------------------------------------------------------------------------

    def _due(self, now: float) -> dict[int, PartitionState]:
        """The partitions whose batch should start on its way now (new, or a retry)."""
        due: dict[int, PartitionState] = {}
        for partition, state in self._states.items():
            if state.batch is not None:
                if state.waiting and not state.in_flight and now >= (state.retry_at or 0.0):
                    due[partition] = state
            elif state.buffer.empty:
                continue
            elif state.forced_incomplete:
                if state.eof:
                    log.warning(
                        "%s[%d] ends before the journal's batch end %s: records are gone from the "
                        "log; flushing what is left",
                        self._topic,
                        partition,
                        state.forced_end,
                    )
                    due[partition] = state
            elif (
                state.buffer.due(now, self._limits)
                or len(state.dead_letters) >= self._limits.records
                or (self._config.exit_when_idle and state.eof)
            ):
                due[partition] = state
        return due

    def _in_flight(self) -> bool:
        return any(state.in_flight for state in self._states.values())

    def _full(self) -> set[int]:
        """Partitions whose new batch is full while the previous one is still in flight: the loop
        waits for that one (bounded memory: at most two batches per partition)."""
        return {
            partition
            for partition, state in self._states.items()
            if state.in_flight
            and (
                state.buffer.count >= self._limits.records
                or state.buffer.size >= self._limits.bytes
                or len(state.dead_letters) >= self._limits.records
            )
        }

    def _detach(self, state: PartitionState) -> Batch:
        if state.batch is None:
            state.batch = Batch(state.buffer, state.dead_letters)
            state.buffer = PartitionBuffer(self._config.layout)
            state.dead_letters = []
            state.forced_end = None  # the journal's batch is the detached one
        return state.batch

    def _send(self, states: dict[int, PartitionState]) -> None:
        """Send each partition's batch (detached from its buffer now, or a failed one again) on
        its way: intent, encoding and upload run on a worker thread."""
        for partition, state in states.items():
            batch = self._detach(state)
            batch.upload = self._uploads.submit(self._flusher.flush, {partition: batch.buffer})

    def _collect(self, wait_for: Iterable[int] = ()) -> None:
        """Settle the batches whose upload finished (waiting first for those of `wait_for`):
        commit the durable ones, pause and schedule a retry for failed ones."""
        wait([upload for p in wait_for if (upload := self._upload(p)) is not None])
        done = {
            p: s
            for p, s in self._states.items()
            if (upload := self._upload(p)) is not None and upload.done()
        }
        if not done:
            return
        failures = self._settle(done)
        now = time.monotonic()
        for partition, state in done.items():
            tp = TopicPartition(self._topic, partition)
            error = failures.get(partition)
            if error is None:
                if state.waiting:
                    self._consumer.resume([tp])
                    self._consumer.seek(TopicPartition(self._topic, partition, state.next_offset))
                    log.info(
                        "%s[%d]: batch uploaded after %d failures, resumed",
                        self._topic,
                        partition,
                        state.failures,
                    )
                state.failures, state.retry_at = 0, None
                continue
            if not state.waiting:
                self._consumer.pause([tp])
            state.failures += 1
            delay = retry_delay(state.failures)
            state.retry_at = now + delay
            if isinstance(error, DeadLetterError):
                problem, reason = "dead-letters", str(error)
            else:
                metrics.UPLOAD_FAILURES.inc()
                problem = "s3"
                reason = f"cannot upload to bucket {self._config.bucket}: {describe_error(error)}"
            self._health.degrade(problem, f"{reason}; partitions paused, retrying")
            log.warning(
                "%s[%d]: %s; partition paused, retry in %.1fs",
                self._topic,
                partition,
                reason,
                delay,
            )
        if not any(state.waiting for state in self._states.values()):
            self._health.recover("s3")
            self._health.recover("dead-letters")

    def _upload(self, partition: int) -> "Future[dict[int, Exception | None]] | None":
        batch = self._states[partition].batch
        return batch.upload if batch is not None else None

    def _settle(
        self, states: dict[int, PartitionState], deadline: float | None = None
    ) -> dict[int, Exception]:
        """Wait for the uploads of these partitions' batches (until `deadline`, if given), write
        their dead letters, commit the batches that are durable in both and drop them; the
        failures (batches kept). An upload still running at the deadline is abandoned."""
        results: dict[int, Exception | None] = {}
        letters: dict[int, list[DeadLetter]] = {}
        for partition, state in states.items():
            assert state.batch is not None and state.batch.upload is not None
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results[partition] = state.batch.upload.result(timeout)[partition]
            except FutureTimeout:
                self._abandoned = True
                results[partition] = TimeoutError("upload still running at the shutdown deadline")
                continue
            state.batch.upload = None
            if results[partition] is None:
                letters[partition] = state.batch.dead_letters
        results.update(self._dead_letters.deliver(letters, DEAD_LETTER_TIMEOUT))
        durable = {p: states[p] for p, error in results.items() if error is None}
        self._commit(durable)
        for state in durable.values():
            state.batch = None
        return {p: error for p, error in results.items() if error is not None}

    def _flush_now(
        self, states: dict[int, PartitionState], deadline: float | None = None
    ) -> dict[int, Exception]:
        """Make durable, in offset order, each partition's batch on its way (awaited), its failed
        batch and its buffer; the partitions left not durable, with their errors."""
        failures = self._settle({p: s for p, s in states.items() if s.in_flight}, deadline)
        for _ in range(2):  # a batch kept by a failure, then the buffer
            ready = {
                p: s
                for p, s in states.items()
                if p not in failures
                and (s.batch is not None or (not s.buffer.empty and not s.forced_incomplete))
            }
            if not ready:
                break
            self._send(ready)
            failures.update(self._settle(ready, deadline))
        return failures

    def _commit(self, states: dict[int, PartitionState]) -> None:
        """Synchronously commit each batch's end offset (for these partitions only).

        A failed commit is logged, not retried: the batch is in S3 and the next commit of the
        partition covers it; until then a new owner skips it through the journal.
        """
        offsets = [
            TopicPartition(self._topic, p, s.batch.buffer.end)
            for p, s in states.items()
            if s.batch is not None and s.batch.buffer.end is not None
        ]
        if not offsets:
            return
        try:
            committed = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as error:
            log.warning("offset commit failed (the batches are in S3): %s", error.args[0].str())
            return
        for tp in committed:
            if tp.error is not None:
                log.warning("offset commit of %s[%d] failed: %s", tp.topic, tp.partition, tp.error)
                continue
            state = states[tp.partition]
            start = state.batch.buffer.start if state.batch else None
            previous = state.committed if state.committed is not None else start
            metrics.OFFSETS_COMMITTED.inc(max(0, tp.offset - (previous or 0)))
            state.committed = tp.offset

    def _shutdown(self) -> None:
        """Flush everything within `shutdown_timeout`; past it, leave the rest uncommitted."""
        deadline = time.monotonic() + self._config.shutdown_timeout
        pending = dict(self._states)
        attempt = 0
        while pending:
            self._health.beat()
            pending = {p: pending[p] for p in self._flush_now(pending, deadline)}
            attempt += 1
            wait_for = min(retry_delay(attempt), deadline - time.monotonic())
            if not pending or wait_for <= 0:
                break
            time.sleep(wait_for)
        left = {p: s.records for p, s in self._states.items() if s.batch or not s.buffer.empty}
        metrics.BUFFERED_RECORDS.set(sum(left.values()))
        if left:
            log.error(
                "stopping with %d records not in S3 (partitions %s): left uncommitted, they "
                "will be consumed again",
                sum(left.values()),
                sorted(left),
            )

    def _drained(self) -> bool:
        return bool(self._states) and all(
            state.eof and state.buffer.empty and state.batch is None
            for state in self._states.values()
        )

    # --- rebalancing -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each partition at its committed offset, or at the journal's unfinished batch."""
        if partitions:
            try:
                committed = consumer.committed(partitions, timeout=KAFKA_TIMEOUT)
            except KafkaException as error:
                raise PipelineError(
                    f"cannot read committed offsets of group {self._config.group_id!r}: "
                    f"{error.args[0].str()}: check the broker"
                ) from None
            partitions = [self._start(tp) for tp in committed]
        consumer.incremental_assign(partitions)

    def _start(self, tp: TopicPartition) -> TopicPartition:
        committed = tp.offset if tp.offset >= 0 else None
        try:
            intent = self._journal.read(tp.partition)
        except Exception as error:
            raise PipelineError(
                f"cannot read the journal {self._journal.key(tp.partition)} in bucket "
                f"{self._config.bucket}: {describe_error(error)}: check S3"
            ) from None
        resume = resume_point(committed, intent)
        offset = resume.offset if resume.offset is not None else committed
        self._states[tp.partition] = PartitionState(
            offset, committed, PartitionBuffer(self._config.layout), resume.forced_end
        )
        if resume.forced_end is not None:
            log.info(
                "%s[%d]: rebuilding unfinished batch [%d, %d) from the journal (committed %s)",
                self._topic,
                tp.partition,
                resume.offset,
                resume.forced_end,
                committed,
            )
        else:
            log.info(
                "%s[%d]: assigned, starting at %s",
                self._topic,
                tp.partition,
                offset if offset is not None else "the earliest offset",
            )
        return TopicPartition(
            self._topic, tp.partition, OFFSET_INVALID if offset is None else offset
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Flush and commit what the revoked partitions buffered (one attempt)."""
        revoked = self._forget(partitions)
        if revoked:
            failed = self._flush_now(revoked)
            if failed:
                log.warning(
                    "partitions %s revoked with batches not in S3: left uncommitted", sorted(failed)
                )
        consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Drop the lost partitions' batches uncommitted: another member may own them already."""
        lost = self._forget(partitions)
        wait([s.batch.upload for s in lost.values() if s.batch and s.batch.upload])
        if any(state.records for state in lost.values()):
            log.warning(
                "partitions %s lost: their batches are dropped, the new owner re-reads them",
                sorted(lost),
            )
        consumer.incremental_unassign(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> dict[int, PartitionState]:
        gone = {
            tp.partition: self._states.pop(tp.partition)
            for tp in partitions
            if tp.partition in self._states
        }
        self._dead_letters.forget(gone)
        for partition in gone:
            with suppress(KeyError):
                metrics.LAG.remove(str(partition))
        return gone

    # --- gauges ------------------------------------------------------------------------------

    def _update_gauges(self) -> None:
        now = time.monotonic()
        if now - self._gauges_at < GAUGE_INTERVAL:
            return
        self._gauges_at = now
        metrics.BUFFERED_RECORDS.set(sum(s.records for s in self._states.values()))
        for partition, state in self._states.items():
            # cached=True: the high watermark carried in fetch responses (right on every broker,
            # unlike ListOffsets on Tansu).
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), cached=True
            )
            if high < 0:
                continue
            position = state.next_offset if state.next_offset is not None else low
            metrics.LAG.labels(partition=str(partition)).set(max(0, high - max(position, 0)))


def _log_kafka_error(error: KafkaError) -> None:
    log.warning("Kafka: %s", error.str())
