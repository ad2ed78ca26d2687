"""The consumer service: Kafka records -> batches per partition -> S3 objects or Iceberg rows ->
committed offsets.

This module keeps the poll loop and the rebalance. Each partition's batches, retries and pauses
are its state machine's (`partition.py`); where batches go is the destination chosen at start
(`destination.py`: the `objects/` or the `tables/` sink), whose jobs run on the one executor
(`jobs.py`); finished jobs are settled by `settle.py`, durable batches committed by `commits.py`;
pausing, resuming and seeking is `fetching.py`'s.

Guarantees:
- An offset is committed only after every record below it is durable (in S3, or in every Iceberg
  table) or, rejected as poison, in the dead-letter topic (see `dead_letters.py`), so a crash never
  loses a record. Objects: the journal (see `objects/journal.py`) makes the replay after a crash
  rewrite the same keys; tables: a partition starts at the tables' own position and every table
  skips what it already holds (`tables/committer.py`); so no record is stored twice either. A
  partition has at most one job running, so its intents, uploads and commits stay in offset
  order.
- Every S3 or catalog fault is retried under one policy (shared/retry.py): transient ones for as
  long as they last (`degraded`); permanent ones are probed until `give_up_after`, then the
  process exits non-zero with nothing more committed. Partitions that wait are paused: memory stays bounded.
- On revocation the revoked partitions' batches are flushed and committed (one attempt; a failed
  one is left uncommitted for the next owner). Lost partitions are dropped uncommitted: another
  member may already own them.
- On stop: flush, upload, commit, leave the group, within `shutdown_timeout`; what is not durable
  by then stays uncommitted and is consumed again by the next owner.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from chinook_consumer import metrics
from chinook_consumer.commits import OffsetCommits
from chinook_consumer.completion import Completion, held_timeout, topic_ends
from chinook_consumer.dead_letters import DeadLetterWriter
from chinook_consumer.destination import Destination, open_destination
from chinook_consumer.fetching import Fetching
from chinook_consumer.health.ownership import Ownership
from chinook_consumer.health.troubles import Troubles
from chinook_consumer.jobs import Jobs
from chinook_consumer.librdkafka import KAFKA_TIMEOUT, librdkafka_properties
from chinook_consumer.metrics.gauges import forget_lag, update_gauges
from chinook_consumer.partition import NOTHING, Effects, Partition, Rules, State
from chinook_consumer.settings import ConsumerSettings, retry_policy
from chinook_consumer.settle import DEAD_LETTER_TIMEOUT, Settler
from chinook_consumer.topic import wait_for_topic
from chinook_shared.broker_check import check_broker
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health

log = logging.getLogger(__name__)

POLL_MESSAGES: Final = 5000  # or --flush-records if fewer: what passes a batch is fetched again
POLL_TIMEOUT: Final = 0.2
POLL_TIMEOUT_BUSY: Final = 0.005  # a finished job is settled without waiting for records
GAUGE_INTERVAL: Final = 1.0


def run_consumer(settings: ConsumerSettings, health: Health, stop: threading.Event) -> None:
    """Consume `settings.topic` into `settings.bucket` (or, with `table`, the Iceberg tables) until
    `stop` is set (or, with `exit_when_idle`, until the group holds every partition of the topic
    durably up to its end as of the start).

    Raises PipelineError when the broker or the destination cannot be used at start (S3 or the
    catalog not answering within `start_timeout`), when a permanent S3 or catalog fault outlasts
    `give_up_after`, or, with `exit_when_idle`, when the member owns no partition for
    `unassigned_timeout` seconds or partitions other members hold do not move for the
    held-partitions bound.
    """
    check_broker(settings.kafka)
    destination = open_destination(settings, health, stop)
    if destination is None:
        return
    if not wait_for_topic(settings, health, stop):
        return
    _Service(settings, health, stop, destination).run()


class _Service:
    def __init__(
        self,
        settings: ConsumerSettings,
        health: Health,
        stop: threading.Event,
        destination: Destination,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings, self._health, self._stop, self._clock = settings, health, stop, clock
        self._topic = settings.topic
        self._jobs = Jobs(settings.upload_concurrency, destination.positions, destination.writer)
        self._dead_letters = DeadLetterWriter(settings.kafka, settings.dead_letter_topic)
        self._partitions: dict[int, Partition] = {}
        self._troubles = Troubles(health)
        self._ownership = Ownership(
            bound=settings.unassigned_timeout,
            clock=clock,
            health=health,
            what=f"this member of group {settings.group_id!r} on topic {settings.topic}",
            exit_when_idle=settings.exit_when_idle,
        )
        self._rules = Rules(
            settings.topic,
            settings.flush_limits,
            retry_policy(settings),
            clock,
            bucket_ms=destination.bucket_ms,
            exit_when_idle=settings.exit_when_idle,
        )
        self._poll_messages = min(POLL_MESSAGES, settings.flush_records)
        self._gauges_at = 0.0
        self._consumer = Consumer(librdkafka_properties(settings), error_cb=_log_kafka_error)
        self._fetching = Fetching(self._consumer, self._topic)
        self._settler = Settler(
            OffsetCommits(self._consumer, self._topic),
            self._dead_letters,
            self._troubles,
            clock=clock,
            where=destination.where,
            component=destination.component,
        )
        self._durable = destination.durable or self._committed
        self._completion: Completion | None = None
        self._closing = False

    def run(self) -> None:
        try:
            if self._settings.exit_when_idle:  # the topic's ends before anything is consumed
                self._completion = Completion(
                    topic_ends(self._consumer, self._topic, KAFKA_TIMEOUT),
                    self._durable,
                    bound=held_timeout(self._settings),
                    clock=self._clock,
                    health=self._health,
                    topic=self._topic,
                    group=self._settings.group_id,
                )
            self._consumer.subscribe(
                [self._topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            while not self._stop.is_set():
                self._health.beat()
                timeout = POLL_TIMEOUT_BUSY if self._jobs.busy else POLL_TIMEOUT
                self._receive(self._consumer.consume(self._poll_messages, timeout))
                self._fetching.retry()
                self._settle()
                self._tick(self._partitions.values())
                self._watch()
                if self._complete():
                    log.info(
                        "every partition of %s is durable up to its end as of the start",
                        self._topic,
                    )
                    break
            self._shutdown()
        finally:
            for partition in self._partitions.values():
                partition.close()  # CLOSED: the revocation in close() has nothing left to flush
            self._jobs.close()
            self._closing = True
            self._consumer.close()
            self._dead_letters.close(DEAD_LETTER_TIMEOUT)

    def _receive(self, messages: list[Message]) -> None:
        now = self._clock()
        partitions = self._partitions
        taken = 0
        for message in messages:
            error = message.error()
            if error is not None:
                self._event(error, message.partition())
                continue
            partition = partitions.get(message.partition())
            if partition is None:
                continue  # revoked meanwhile
            effects = partition.add(message, now)
            if effects is None:
                continue
            taken += 1
            if effects is not NOTHING:
                self._apply(partition, effects)
        if taken:
            metrics.RECORDS_CONSUMED.inc(taken)

    def _event(self, error: KafkaError, partition: int) -> None:
        """An end-of-partition event or an error from librdkafka."""
        if error.code() == KafkaError._PARTITION_EOF:
            if partition in self._partitions:
                self._partitions[partition].end_of_partition()
        elif error.fatal():
            raise PipelineError(f"Kafka consumer failed: {error.str()}: check the broker")
        else:
            log.warning("Kafka: %s", error.str())

    def _settle(self) -> None:
        for partition, effects in self._settler.settle(self._jobs.finished(), self._partitions):
            self._apply(partition, effects)

    def _tick(self, partitions: Iterable[Partition]) -> None:
        for partition in list(partitions):
            effects = partition.tick()
            if effects is not NOTHING:
                self._apply(partition, effects)

    def _apply(self, partition: Partition, effects: Effects) -> None:
        """Carry out what a partition's transition asks for."""
        if effects.pause:
            self._fetching.pause(partition.number)
        if effects.resume:
            self._fetching.resume(partition.number, effects.seek)
        if effects.job is not None:
            self._jobs.start(effects.job)

    def _drain(self, partitions: Mapping[int, Partition], deadline: float | None) -> None:
        """Run these leaving partitions until each is CLOSED, or until `deadline` passes."""
        while True:
            self._health.beat()
            self._tick(partitions.values())
            pending = [p for p in partitions.values() if p.state is not State.CLOSED]
            now = self._clock()
            if not pending or (deadline is not None and now >= deadline):
                return
            waits = [p.retry_at - now for p in pending if p.state is State.BACKING_OFF]
            if deadline is not None:
                waits.append(deadline - now)
            timeout = max(0.0, min(waits)) if waits else None
            self._jobs.wait([p.number for p in pending], timeout)
            self._settle()

    def _shutdown(self) -> None:
        """Flush everything within `shutdown_timeout`; past it, leave the rest uncommitted."""
        deadline = self._clock() + self._settings.shutdown_timeout
        for partition in self._partitions.values():
            self._apply(partition, partition.stop())
        self._drain(self._partitions, deadline)
        left = {n: p.close() for n, p in self._partitions.items()}
        left = {n: records for n, records in left.items() if records}
        metrics.BUFFERED_RECORDS.set(sum(left.values()))
        if left:
            log.error(
                "stopping with %d records not in S3 (partitions %s): left uncommitted, they "
                "will be consumed again",
                sum(left.values()),
                sorted(left),
            )

    def _complete(self) -> bool:
        """With `exit_when_idle`: whether this member's partitions are drained and the group's
        others are durable up to their ends too (see `completion.py`)."""
        if self._completion is None:
            return False
        if not all(p.drained for p in self._partitions.values()):
            self._completion.busy()
            return False
        return self._completion.done(self._partitions.keys())

    def _committed(self, partitions: list[int]) -> dict[int, int | None]:
        """The group's committed offsets: the durable positions of objects."""
        asked = [TopicPartition(self._topic, number) for number in partitions]
        answers = self._consumer.committed(asked, timeout=KAFKA_TIMEOUT)
        return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in answers}

    def _watch(self) -> None:
        """Once a second: the gauges, and whether this member has owned no partition too long."""
        now = self._clock()
        if now - self._gauges_at >= GAUGE_INTERVAL:
            self._gauges_at = now
            update_gauges(self._consumer, self._topic, self._partitions)
            self._ownership.update(len(self._partitions))

    # --- rebalancing ---------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        """Assign each partition at its committed offset, paused: where it resumes is found on
        the executor (retried like any sink job, without blocking the poll loop) before it takes
        records."""
        if not assigned or self._closing:  # one taken while leaving is given back unread
            consumer.incremental_assign(assigned)
            return
        try:
            committed = consumer.committed(assigned, timeout=KAFKA_TIMEOUT)
        except KafkaException as error:
            raise PipelineError(
                f"cannot read committed offsets of group {self._settings.group_id!r}: "
                f"{error.args[0].str()}: check the broker"
            ) from None
        for tp in committed:
            committed_offset = tp.offset if tp.offset >= 0 else None
            self._partitions[tp.partition] = Partition(tp.partition, committed_offset, self._rules)
        consumer.incremental_assign(
            [
                TopicPartition(
                    self._topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_INVALID
                )
                for tp in committed
            ]
        )
        for tp in committed:
            partition = self._partitions[tp.partition]
            self._apply(partition, partition.start())

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        """Flush and commit what the revoked partitions buffered (one attempt each)."""
        leaving = self._owned(revoked)
        for partition in leaving.values():
            self._apply(partition, partition.revoke())
        self._drain(leaving, None)
        failed = sorted(number for number, partition in leaving.items() if partition.records)
        if failed:
            log.warning("partitions %s revoked with batches not in S3: left uncommitted", failed)
        self._forget(leaving)
        consumer.incremental_unassign(revoked)

    def _on_lost(self, consumer: Consumer, lost: list[TopicPartition]) -> None:
        """Drop the lost partitions' batches uncommitted: another member may own them already.
        Their running jobs are waited for, so that no upload of ours overlaps the new owner's."""
        gone = self._owned(lost)
        dropped = sum(partition.close() for partition in gone.values())
        self._jobs.finish(gone)
        if dropped:
            log.warning(
                "partitions %s lost: their batches are dropped, the new owner re-reads them",
                sorted(gone),
            )
        self._forget(gone)
        consumer.incremental_unassign(lost)

    def _owned(self, partitions: list[TopicPartition]) -> dict[int, Partition]:
        mine = self._partitions
        return {tp.partition: mine[tp.partition] for tp in partitions if tp.partition in mine}

    def _forget(self, gone: Mapping[int, Partition]) -> None:
        for number in gone:
            del self._partitions[number]
            self._fetching.forget(number)
        self._jobs.discard(gone)
        self._troubles.cleared(list(gone))
        self._dead_letters.forget(gone)
        forget_lag(gone)


def _log_kafka_error(error: KafkaError) -> None:
    log.warning("Kafka: %s", error.str())
