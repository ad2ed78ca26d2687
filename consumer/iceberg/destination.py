"""The consumer's second destination: each batch becomes rows of the Iceberg tables.

Beside the object destination (the journal says where a partition starts, the flusher makes a
batch durable), this one answers the same two calls through `LakeCommitter`:
- `read`: a newly assigned partition starts at the tables' own position (their snapshot
  summaries), whatever offset Kafka committed; no journal is needed, since a batch replayed after
  a crash is skipped by every table that already holds it.
- `flush`: one commit per table of the batch's records, its next offset recorded with them. A
  batch without rows (every record poison or a tombstone) is committed too, so the tables'
  positions pass its records and a restart does not read them again.

Guarantee: a batch's end offset is reported durable only once every table holds the batch (and
the position past it); the service commits Kafka offsets only after that.
"""

from collections.abc import Mapping
from itertools import chain

import pyarrow as pa

from consumer.batcher import PartitionBuffer
from consumer.iceberg.committer import LakeCommitter
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


class TableDestination:
    """Where partitions start and how batches become durable, for one group and topic."""

    def __init__(self, committer: LakeCommitter, group: str, topic: str) -> None:
        self._committer, self._group, self._topic = committer, group, topic

    def read(self, partition: int) -> Resume:
        """The offset the tables hold up to (0 for a partition they have never seen)."""
        start = self._committer.start_positions(self._group, self._topic, [partition])
        return Resume(start[partition], seek=True)

    def flush(self, buffers: Mapping[int, PartitionBuffer]) -> dict[int, Exception | None]:
        """Commit the batches in one commit per table; per partition None once durable (every
        table then holds at least its end offset), else the error. The same batches may be
        flushed again: rows a table already holds are skipped."""
        try:
            batches = {}
            for partition, buffer in buffers.items():
                assert buffer.end is not None
                batches[partition] = (batch_rows(partition, buffer), buffer.end)
            self._committer.commit(self._group, self._topic, batches)
        except Exception as error:
            return dict.fromkeys(buffers, error)
        return dict.fromkeys(buffers, None)
