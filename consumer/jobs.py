"""The consumer's one executor: every job of the destination (finding where a partition starts,
making a batch durable) runs on it.

The destination is chosen once at start: objects (the journal and the flusher) or Iceberg tables
(`consumer.tables.destination`); both halves have the same two calls. The service creates the
executor and shuts it down; nothing else in the consumer starts threads (the flusher, the uploader
and the lake committer run on the calling worker). At most one job per partition is known at a
time: the partition's state machine never asks for a second one while one runs.
"""

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from consumer.buffer import PartitionBuffer
from consumer.objects.journal import Intent, Resume
from consumer.partition import Flush, Job, ReadJournal

Start = Intent | Resume | None


class Starts(Protocol):
    """Where a newly assigned partition starts (the journal, or the tables' positions)."""

    def read(self, partition: int) -> Start: ...


class Writer(Protocol):
    """Makes batches durable: per partition None once durable, else the error (the flusher, or
    the tables' committer)."""

    def flush(self, buffers: Mapping[int, PartitionBuffer]) -> dict[int, Exception | None]: ...


class Jobs:
    def __init__(self, workers: int, starts: Starts, writer: Writer) -> None:
        self._starts, self._writer = starts, writer
        self._executor = ThreadPoolExecutor(workers, "chinook-jobs")
        self._running: dict[int, tuple[Job, Future[Start]]] = {}
        self._unfinished: set[Future[Start]] = set()  # discarded ones included

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def start(self, job: Job) -> None:
        assert job.partition not in self._running, f"partition {job.partition} has a job"
        future = self._executor.submit(self._run, job)
        self._unfinished.add(future)
        future.add_done_callback(self._unfinished.discard)
        self._running[job.partition] = (job, future)

    def finished(self) -> list[tuple[Job, "Future[Start]"]]:
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

    def _run(self, job: Job) -> Start:
        """ReadJournal: where to start. Flush: None once the batch is durable; raises otherwise."""
        if isinstance(job, ReadJournal):
            return self._starts.read(job.partition)
        assert isinstance(job, Flush)
        error = self._writer.flush({job.partition: job.batch.buffer})[job.partition]
        if error is not None:
            raise error
        return None
