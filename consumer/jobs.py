"""The jobs a partition asks for, and the consumer's one executor that runs them.

A partition's state machine asks for two jobs: `FindPosition` (where it resumes) and `Flush`
(make its batch durable). Both go to the sink chosen at start (`chinook_consumer.destination`): objects
(`chinook_consumer.objects`: the journal and the writer) or tables (`chinook_consumer.tables`), which answer the
same two calls. The service creates the executor and shuts it down; nothing else in the consumer
starts threads (the object writer, the uploader and the table committer run on the calling
worker). At most one job per partition is known at a time: the partition's state machine never
asks for a second one while one runs.
"""

import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from chinook_consumer.buffer import PartitionBuffer
from chinook_consumer.dead_letters import DeadLetter
from chinook_consumer.positions import Position, Positions


@dataclass
class Batch:
    """A partition's batch on its way to the sink, detached from the buffer that goes on filling."""

    buffer: PartitionBuffer
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class FindPosition:
    """Job: find where the partition resumes, given the offset its group committed."""

    partition: int
    committed: int | None


@dataclass(frozen=True)
class Flush:
    """Job: make the batch durable (objects: intent first, then the objects; tables: one commit
    per table)."""

    partition: int
    batch: Batch


Job = FindPosition | Flush


class Writer(Protocol):
    """Makes a partition's batch durable (the object writer, or the tables' committer)."""

    def flush(self, partition: int, buffer: PartitionBuffer) -> None:
        """Returns once the batch is durable; raises otherwise (the same batch may be flushed
        again)."""
        ...


class Jobs:
    def __init__(self, workers: int, positions: Positions, writer: Writer) -> None:
        self._positions, self._writer = positions, writer
        self._executor = ThreadPoolExecutor(workers, "chinook-jobs")
        self._running: dict[int, tuple[Job, Future[Position | None]]] = {}
        self._unfinished: set[Future[Position | None]] = set()  # discarded ones included

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def start(self, job: Job) -> None:
        assert job.partition not in self._running, f"partition {job.partition} has a job"
        future = self._executor.submit(self._run, job)
        self._unfinished.add(future)
        future.add_done_callback(self._unfinished.discard)
        self._running[job.partition] = (job, future)

    def finished(self) -> list[tuple[Job, "Future[Position | None]"]]:
        """The jobs that have ended (forgotten here): their futures hold the outcome."""
        done = [p for p, (_, future) in self._running.items() if future.done()]
        return [self._running.pop(p) for p in done]

    def wait(self, partitions: Iterable[int], timeout: float | None) -> None:
        """Until one of these partitions' jobs ends, or `timeout` seconds (sleeps when none run)."""
        futures = [self._running[p][1] for p in partitions if p in self._running]
        if futures:
            wait(futures, timeout, return_when=FIRST_COMPLETED)
        else:
            assert timeout is not None, "waiting forever for no job"
            time.sleep(timeout)

    def finish(self, partitions: Iterable[int]) -> None:
        """Wait for these partitions' jobs to end, and forget them (their outcome is not settled)."""
        futures = [self._running.pop(p)[1] for p in list(partitions) if p in self._running]
        wait(futures)

    def discard(self, partitions: Iterable[int]) -> None:
        """Forget these partitions' jobs: their outcome will not be settled."""
        for partition in partitions:
            self._running.pop(partition, None)

    def close(self) -> None:
        """Shut the executor down; without waiting when a job is still running (abandoned at the
        shutdown deadline or when giving up: its batch is not committed, and the process exits
        without waiting for its thread)."""
        self._executor.shutdown(wait=not self._unfinished, cancel_futures=True)

    def _run(self, job: Job) -> Position | None:
        """FindPosition: where the partition resumes. Flush: None once the batch is durable;
        raises otherwise."""
        if isinstance(job, FindPosition):
            return self._positions.find(job.partition, job.committed)
        self._writer.flush(job.partition, job.batch.buffer)
        return None
