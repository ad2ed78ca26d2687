"""The tables sink: each batch becomes rows of the Iceberg tables.

Beside the objects sink (the journal says where a partition resumes, the object writer makes a
batch durable), this one answers the same two calls through `TableCommitter`:
- `find`: a newly assigned partition resumes at the tables' own position (their snapshot
  summaries), whatever offset Kafka committed; no journal is needed, since a batch replayed after
  a crash is skipped by every table that already holds it.
- `flush`: one commit per table of the batch's records, its next offset recorded with them. A
  batch without rows (every record poison or a tombstone) is committed too, so the tables'
  positions pass its records and a restart does not read them again.

Group commit: the executor flushes partitions in parallel, but commits to one table conflict
with each other (each is retried from the new snapshot, a metadata write each time). So one
commit runs at a time in this process, and it takes the batches that arrived while the previous
one ran, oldest first: N partitions flushing together cost one commit per table, not N
conflicting ones.

Memory: a batch waits for its commit as the partition buffered it (framed bytes) and becomes
Arrow only inside the commit that takes it, and a commit takes batches only up to one batch's
limits (`--flush-records` records, `--flush-bytes` value bytes; a single larger batch alone).
So the Arrow rows alive at any time, and the copies pyiceberg makes of them while writing, are
those of one commit of at most that size, however many partitions are assigned or waiting.

Guarantee: a batch's end offset is reported durable only once every table holds the batch (and
the position past it); the service commits Kafka offsets only after that.
"""

import threading
from dataclasses import dataclass
from itertools import chain

import pyarrow as pa

from chinook_consumer.buffer import FlushLimits, PartitionBuffer
from chinook_consumer.positions import Position
from chinook_consumer.tables.committer import TableCommitter
from chinook_shared.arrow import changes_to_batch
from chinook_shared.framing import split


def batch_rows(partition: int, buffer: PartitionBuffer) -> pa.RecordBatch:
    """The change rows of a buffered batch, with each record's offset and Kafka timestamp."""
    groups = buffer.time_groups()
    return changes_to_batch(
        [value for group in groups for value in split(group.body)],
        partition,
        list(chain.from_iterable(group.offsets for group in groups)),
        list(chain.from_iterable(group.timestamps for group in groups)),
    )


@dataclass
class _Waiting:
    """A partition's buffered batch waiting for a group commit, and its outcome once `done`."""

    partition: int
    buffer: PartitionBuffer
    done: bool = False
    error: Exception | None = None


class TableDestination:
    """Where partitions start and how batches become durable, for one group and topic; one
    commit holds at most `limits.records` records and `limits.bytes` value bytes (or one
    larger flush)."""

    def __init__(
        self, committer: TableCommitter, group: str, topic: str, limits: FlushLimits
    ) -> None:
        self._committer, self._group, self._topic = committer, group, topic
        self._limits = limits
        self._committing = threading.Lock()  # one commit at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []

    def find(self, partition: int, committed: int | None) -> Position:
        """The offset the tables hold up to (0 for a partition they have never seen), whatever
        offset Kafka committed."""
        start = self._committer.start_positions(self._group, self._topic, [partition])
        return Position(start[partition], seek=True)

    def positions(self, partitions: list[int]) -> dict[int, int | None]:
        """{partition: the offset every table holds up to} (0 where a table has none), read
        between commits: a commit refreshes the same table objects."""
        with self._committing:
            return dict(self._committer.start_positions(self._group, self._topic, partitions))

    def flush(self, partition: int, buffer: PartitionBuffer) -> None:
        """Commit the batch (with those of other partitions flushing meanwhile, up to the limits)
        in one commit per table; returns once durable (every table then holds at least its end
        offset), raises otherwise. The same batch may be flushed again: rows a table already
        holds are skipped."""
        mine = _Waiting(partition, buffer)
        with self._queue_lock:
            self._queue.append(mine)
        with self._committing:
            while not mine.done:  # else an earlier holder committed it with its own
                self._commit_next()
        if mine.error is not None:
            raise mine.error

    def _commit_next(self) -> None:
        """Commit the oldest waiting batches that fit in one commit's limits."""
        taken = self._take()
        batches: dict[int, tuple[pa.RecordBatch, int]] = {}
        converted: list[_Waiting] = []
        for each in taken:
            try:
                batches[each.partition] = _rows(each.partition, each.buffer)
                converted.append(each)
            except Exception as error:  # a value that does not parse: that flush fails alone
                each.error, each.done = error, True
        if not converted:
            return
        error: Exception | None = None
        try:
            self._committer.commit(self._group, self._topic, batches)
        except Exception as failure:
            error = failure
        for each in converted:
            each.error, each.done = error, True

    def _take(self) -> list[_Waiting]:
        """The oldest waiting flushes within the limits (always at least one), off the queue."""
        limits = self._limits
        with self._queue_lock:
            first = self._queue[0]
            taken, records, size = [first], first.buffer.count, first.buffer.size
            for each in self._queue[1:]:
                records, size = records + each.buffer.count, size + each.buffer.size
                if records > limits.records or size > limits.bytes:
                    break
                taken.append(each)
            del self._queue[: len(taken)]
        return taken


def _rows(partition: int, buffer: PartitionBuffer) -> tuple[pa.RecordBatch, int]:
    """The rows of a buffered batch, and its next offset."""
    assert buffer.end is not None
    return batch_rows(partition, buffer), buffer.end
