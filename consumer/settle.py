"""Settling finished jobs: each outcome goes to its partition's state machine, a failure to the
health report, and a batch made durable (objects in S3, or rows in the tables) on to its dead
letters (`chinook_consumer.dead_letters`) and its offset commit (`chinook_consumer.commits`).

Guarantee: a batch's end offset is committed only after the batch is durable in the sink and
every dead letter in it is acknowledged by the broker; then `Partition.landed` is told the
committed offset.
"""

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Final

from chinook_consumer import metrics
from chinook_consumer.commits import OffsetCommits
from chinook_consumer.dead_letters import DeadLetterError, DeadLetterWriter
from chinook_consumer.health.troubles import Troubles
from chinook_consumer.jobs import FindPosition, Flush, Job
from chinook_consumer.partition import Effects, Partition, State
from chinook_consumer.positions import Position
from chinook_shared.retry import classify

log = logging.getLogger(__name__)

DEAD_LETTER_TIMEOUT: Final = 10.0  # seconds a settle waits for the broker to acknowledge
Finished = list[tuple[Job, "Future[Position | None]"]]


class Settler:
    def __init__(
        self,
        commits: OffsetCommits,
        dead_letters: DeadLetterWriter,
        troubles: Troubles,
        *,
        clock: Callable[[], float],
        where: str,
        component: str,
    ) -> None:
        self._commits, self._dead_letters, self._troubles = commits, dead_letters, troubles
        self._clock, self._where = clock, where  # `where`: for messages
        self._component = component  # the health component a failed job degrades

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
            elif isinstance(job, FindPosition):
                self._troubles.cleared([job.partition])
                found = future.result()
                assert found is not None
                effects.append((partition, partition.recovered(found)))
            else:
                assert isinstance(job, Flush)
                uploaded[job.partition] = job
        if not uploaded:
            return effects
        letters = {p: job.batch.dead_letters for p, job in uploaded.items()}
        problems = self._dead_letters.deliver(letters, DEAD_LETTER_TIMEOUT)
        durable = {p: job for p, job in uploaded.items() if problems.get(p) is None}
        committed = self._commits.commit(durable, partitions)
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
