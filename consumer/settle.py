"""Settling finished jobs: each outcome goes to its partition's state machine, and batches made
durable (objects in S3, or rows in the Iceberg tables) are committed.

Guarantee: a batch's end offset is committed only after the batch is durable in the destination
and every dead letter in it is acknowledged by the broker; then `Partition.landed` is told the
committed offset.
"""

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Final

from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumer import metrics
from consumer.dead_letters import DeadLetterError, DeadLetterWriter
from consumer.jobs import Start
from consumer.partition import Effects, Flush, Job, Partition, ReadJournal, State
from consumer.health.troubles import Troubles
from shared.retry import classify

log = logging.getLogger("consumer.service")

DEAD_LETTER_TIMEOUT: Final = 10.0  # seconds a settle waits for the broker to acknowledge
Finished = list[tuple[Job, "Future[Start]"]]


class Settler:
    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        where: str,
        dead_letters: DeadLetterWriter,
        troubles: Troubles,
        clock: Callable[[], float],
        component: str = "s3",
    ) -> None:
        self._consumer, self._topic, self._where = consumer, topic, where  # `where`: for messages
        self._component = component  # the health component a failed job degrades
        self._dead_letters, self._troubles, self._clock = dead_letters, troubles, clock

    def settle(
        self, finished: Finished, partitions: Mapping[int, Partition]
    ) -> list[tuple[Partition, Effects]]:
        """Hand each finished job's outcome to its partition; the effects to carry out.

        Raises PipelineError when a partition gives up (a permanent fault outlasted the window).
        """
        effects: list[tuple[Partition, Effects]] = []
        uploaded: dict[int, Flush] = {}
        for job, future in finished:
            partition = partitions.get(job.partition)
            if partition is None or partition.state is State.CLOSED:
                continue  # its outcome no longer matters
            error = future.exception()
            if error is not None:
                effects.append((partition, self._failed(partition, job, error)))
            elif isinstance(job, ReadJournal):
                self._troubles.cleared([job.partition])
                effects.append((partition, partition.recovered(future.result())))
            else:
                assert isinstance(job, Flush)
                uploaded[job.partition] = job
        if not uploaded:
            return effects
        letters = {p: job.batch.dead_letters for p, job in uploaded.items()}
        problems = self._dead_letters.deliver(letters, DEAD_LETTER_TIMEOUT)
        durable = {p: job for p, job in uploaded.items() if problems.get(p) is None}
        committed = self._commit(durable, partitions)
        self._troubles.cleared(list(durable))
        for number in uploaded:
            partition = partitions[number]
            problem = problems.get(number)
            if problem is not None:
                effects.append((partition, self._failed(partition, uploaded[number], problem)))
            else:
                effects.append((partition, partition.landed(committed.get(number))))
        return effects

    def _failed(self, partition: Partition, job: Job, error: BaseException) -> Effects:
        if isinstance(error, DeadLetterError):
            name, what = "dead-letters", f"writing the dead letters of {partition!r}"
        else:
            name, what = self._component, f"{partition.operation} ({self._where})"
            if isinstance(job, Flush):
                metrics.UPLOAD_FAILURES.inc()
        effects = partition.failed(error)  # raises PipelineError when it is time to give up
        if partition.state is State.BACKING_OFF:
            delay = (partition.retry_at or 0.0) - self._clock()
            self._troubles.failed(partition.number, name, what, partition.failures, delay)
        else:
            log.warning("%s failed: %s; left uncommitted", what, classify(error))
        return effects

    def _commit(
        self, durable: Mapping[int, Flush], partitions: Mapping[int, Partition]
    ) -> dict[int, int]:
        """Synchronously commit each durable batch's end offset; the offsets committed.

        A failed commit is logged, not retried: the batch is in S3 and the next commit of the
        partition covers it; until then a new owner skips it through the journal.
        """
        offsets = [
            TopicPartition(self._topic, p, job.batch.buffer.end)
            for p, job in durable.items()
            if job.batch.buffer.end is not None
        ]
        if not offsets:
            return {}
        try:
            answers = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as error:
            log.warning("offset commit failed (the batches are durable): %s", error.args[0].str())
            return {}
        committed: dict[int, int] = {}
        for answer in answers:
            if answer.error is not None:
                log.warning(
                    "offset commit of %s[%d] failed: %s",
                    self._topic,
                    answer.partition,
                    answer.error,
                )
                continue
            previous = partitions[answer.partition].committed
            if previous is None:
                previous = durable[answer.partition].batch.buffer.start or 0
            metrics.OFFSETS_COMMITTED.inc(max(0, answer.offset - previous))
            committed[answer.partition] = answer.offset
        return committed
