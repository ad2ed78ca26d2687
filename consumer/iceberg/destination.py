"""The consumer's second destination: each batch becomes rows of the Iceberg tables.

Beside the object destination (the journal says where a partition starts, the flusher makes a
batch durable), this one answers the same two calls through `LakeCommitter`:
- `read`: a newly assigned partition starts at the tables' own position (their snapshot
  summaries), whatever offset Kafka committed; no journal is needed, since a batch replayed after
  a crash is skipped by every table that already holds it.
- `flush`: one commit per table of the batch's records, its next offset recorded with them. A
  batch without rows (every record poison or a tombstone) is committed too, so the tables'
  positions pass its records and a restart does not read them again.

Group commit: the executor flushes partitions in parallel, but commits to one table conflict
with each other (each is retried from the new snapshot, a metadata write each time). So one
commit runs at a time in this process, and it takes every batch that arrived while the previous
one ran: N partitions flushing together cost one commit per table, not N conflicting ones.

Guarantee: a batch's end offset is reported durable only once every table holds the batch (and
the position past it); the service commits Kafka offsets only after that.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain

import pyarrow as pa

from consumer.batcher import PartitionBuffer
from consumer.iceberg.committer import Batches, LakeCommitter
from consumer.journal import Resume
from shared.arrow import changes_to_batch
from shared.framing import unframe


def batch_rows(partition: int, buffer: PartitionBuffer) -> pa.RecordBatch:
    """The change rows of a buffered batch, with each record's offset and Kafka timestamp."""
    groups = buffer.time_groups()
    return changes_to_batch(
        [value for group in groups for value in unframe(bytes(group.body))],
        partition,
        list(chain.from_iterable(group.offsets for group in groups)),
        list(chain.from_iterable(group.timestamps for group in groups)),
    )


@dataclass
class _Waiting:
    """Batches waiting for a group commit, and its outcome once `done`."""

    batches: Batches
    done: bool = False
    error: Exception | None = None


class TableDestination:
    """Where partitions start and how batches become durable, for one group and topic."""

    def __init__(self, committer: LakeCommitter, group: str, topic: str) -> None:
        self._committer, self._group, self._topic = committer, group, topic
        self._committing = threading.Lock()  # one commit at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []

    def read(self, partition: int) -> Resume:
        """The offset the tables hold up to (0 for a partition they have never seen)."""
        start = self._committer.start_positions(self._group, self._topic, [partition])
        return Resume(start[partition], seek=True)

    def flush(self, buffers: Mapping[int, PartitionBuffer]) -> dict[int, Exception | None]:
        """Commit the batches (with those of other partitions flushing meanwhile) in one commit
        per table; per partition None once durable (every table then holds at least its end
        offset), else the error. The same batches may be flushed again: rows a table already
        holds are skipped."""
        try:
            batches = {}
            for partition, buffer in buffers.items():
                assert buffer.end is not None
                batches[partition] = (batch_rows(partition, buffer), buffer.end)
        except Exception as error:
            return dict.fromkeys(buffers, error)
        mine = _Waiting(batches)
        with self._queue_lock:
            self._queue.append(mine)
        with self._committing:
            if not mine.done:  # else an earlier holder committed it with its own
                self._commit_waiting()
        return dict.fromkeys(buffers, mine.error)

    def _commit_waiting(self) -> None:
        with self._queue_lock:
            waiting, self._queue = self._queue, []
        merged = {p: batch for each in waiting for p, batch in each.batches.items()}
        error: Exception | None = None
        try:
            self._committer.commit(self._group, self._topic, merged)
        except Exception as failure:
            error = failure
        for each in waiting:
            each.error, each.done = error, True
