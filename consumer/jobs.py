"""The consumer's one executor: every S3 job (journal reads, batch flushes) runs on it.

The service creates it and shuts it down; nothing else in the consumer starts threads (the
flusher and the uploader run on the calling worker). At most one job per partition is known at a
time: the partition's state machine never asks for a second one while one runs.
"""

import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from consumer.flusher import Flusher
from consumer.journal import Intent, Journal
from consumer.partition import Flush, Job, ReadJournal


class Jobs:
    def __init__(self, workers: int, journal: Journal, flusher: Flusher) -> None:
        self._journal, self._flusher = journal, flusher
        self._executor = ThreadPoolExecutor(workers, "chinook-s3")
        self._running: dict[int, tuple[Job, Future[Intent | None]]] = {}
        self._unfinished: set[Future[Intent | None]] = set()  # discarded ones included

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def start(self, job: Job) -> None:
        assert job.partition not in self._running, f"partition {job.partition} has a job"
        future = self._executor.submit(self._run, job)
        self._unfinished.add(future)
        future.add_done_callback(self._unfinished.discard)
        self._running[job.partition] = (job, future)

    def finished(self) -> list[tuple[Job, "Future[Intent | None]"]]:
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

    def _run(self, job: Job) -> Intent | None:
        """ReadJournal: the intent. Flush: None once the batch is durable; raises otherwise."""
        if isinstance(job, ReadJournal):
            return self._journal.read(job.partition)
        assert isinstance(job, Flush)
        error = self._flusher.flush({job.partition: job.batch.buffer})[job.partition]
        if error is not None:
            raise error
        return None
