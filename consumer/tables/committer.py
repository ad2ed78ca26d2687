"""Exactly-once commits of change events into the change table and the state table.

One flush is one Iceberg commit per table. Each commit's snapshot summary records, per topic
partition, the next offset the table holds (`chinook_shared.iceberg.positions`), carried forward so the
current snapshot knows every partition. pyiceberg 0.12 cannot commit two tables atomically, so
each table is its own source of truth: the change table is committed first, then the state
table, and each skips the records below its own recorded position. A crash between the two
commits leaves the state table behind; the replay from `start_positions` (the lower of the two)
is skipped by the change table and applied by the state table. Kafka offsets are only a hint
for lag: commit them after `commit` returns, never before.

Concurrent group members commit to the same tables. Every attempt starts from the table's
current snapshot and re-reads the positions, so a conflict (`CommitFailedException`) is retried
from scratch: rows another member (or an earlier attempt whose answer was lost) already committed
are skipped, never appended twice. Blocking: call from a worker thread.
"""

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, Transaction

from chinook_consumer import metrics
from chinook_consumer.tables.definitions import refresh
from chinook_consumer.tables.position_deletes import transaction
from chinook_consumer.tables.retention import expire_old_snapshots
from chinook_consumer.tables.state import stage_upsert
from chinook_shared.arrow import KAFKA_OFFSET
from chinook_shared.iceberg.positions import advanced, carried, recover
from chinook_shared.iceberg.snapshots import summaries

log = logging.getLogger(__name__)

Batches = Mapping[int, tuple[pa.RecordBatch, int]]
"""{partition: (its records as `chinook_shared.arrow.changes_to_batch` builds them, next offset)}."""
Stage = Callable[[Transaction, Table, pa.Table, dict[str, str]], None]

DEFAULT_ATTEMPTS: Final = 20


def _append(transaction: Transaction, _table: Table, rows: pa.Table, props: dict[str, str]) -> None:
    transaction.append(rows, snapshot_properties=props)


class TableWriter:
    """Commits batches into one table, exactly once per (group, topic, partition, offset)."""

    def __init__(self, table: Table, stage: Stage, attempts: int = DEFAULT_ATTEMPTS) -> None:
        self.table = table
        self._name = ".".join(table.name())  # the metrics' `table` label
        self._stage = stage
        self._attempts = attempts
        for counter in (metrics.TABLE_COMMITS, metrics.TABLE_ROWS, metrics.TABLE_COMMIT_FAILURES):
            counter.labels(table=self._name)  # exported at 0: `increase` then sees the first one

    def positions(self, group: str, topic: str) -> dict[int, int]:
        """{partition: next offset} this table holds, as of its current snapshot."""
        table = refresh(self.table)
        self._export_files(table)
        return recover(summaries(table), group, topic)

    def commit(self, group: str, topic: str, batches: Batches) -> dict[int, int]:
        """Commit the records of `batches` the table does not hold yet, in one commit whose
        summary records the new positions; returns {partition: next offset} now durable.
        Raises CommitFailedException when conflicts outlast every attempt. Counted in the
        table metrics: a commit that finds every record already held writes nothing."""
        started = time.monotonic()
        try:
            durable, rows = self._commit(group, topic, batches)
        except Exception:
            metrics.TABLE_COMMIT_FAILURES.labels(table=self._name).inc()
            raise
        if rows is not None:
            metrics.TABLE_COMMITS.labels(table=self._name).inc()
            metrics.TABLE_ROWS.labels(table=self._name).inc(rows)
            metrics.TABLE_COMMIT_DURATION.labels(table=self._name).observe(
                time.monotonic() - started
            )
        return durable

    def _commit(
        self, group: str, topic: str, batches: Batches
    ) -> tuple[dict[int, int], int | None]:
        """(durable positions, rows the commit wrote: None when it wrote no snapshot)."""
        for attempt in range(self._attempts):
            table = refresh(self.table)
            known = carried(summaries(table))
            positions = recover([known], group, topic)
            pending, rows = _unseen(batches, positions)
            if not pending:
                return {partition: positions.get(partition, 0) for partition in batches}, None
            staged = pa.Table.from_batches(rows)
            try:
                with transaction(table) as staging:
                    properties = advanced(known, group, topic, pending)
                    self._stage(staging, table, staged, properties)
            except CommitFailedException:
                log.info(
                    "commit to %s conflicted (attempt %d): retrying", table.name(), attempt + 1
                )
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
                continue
            self._export_files(table)
            expire_old_snapshots(table)
            durable = {
                partition: max(positions.get(partition, 0), pending.get(partition, 0))
                for partition in batches
            }
            return durable, staged.num_rows
        raise CommitFailedException(
            f"{self._attempts} conflicting commits in a row on {self.table.name()}: retry the flush"
        )

    def _export_files(self, table: Table) -> None:
        """The data and delete files `table`'s current snapshot reads, from its summary's totals
        (no extra read): readers slow down as delete files pile up, until `iceberg maintain`."""
        snapshot = table.current_snapshot()
        summary = snapshot.summary if snapshot is not None else None
        for gauge, total in (
            (metrics.TABLE_DATA_FILES, "total-data-files"),
            (metrics.TABLE_DELETE_FILES, "total-delete-files"),
        ):
            count = summary.get(total) if summary is not None else None
            gauge.labels(table=self._name).set(int(count or 0))


def _unseen(
    batches: Batches, positions: Mapping[int, int]
) -> tuple[dict[int, int], list[pa.RecordBatch]]:
    """({partition: next offset} of the partitions with records past the table's position,
    those records). A batch the table holds none of is passed on as it is, not copied."""
    pending: dict[int, int] = {}
    rows: list[pa.RecordBatch] = []
    for partition, (batch, next_offset) in batches.items():
        start = positions.get(partition, 0)
        if next_offset > start:
            pending[partition] = next_offset
            rows.append(_from(batch, start))
    return pending, rows


def _from(batch: pa.RecordBatch, start: int) -> pa.RecordBatch:
    """The rows of `batch` at offset `start` or later."""
    offsets = batch[KAFKA_OFFSET]
    if not batch.num_rows or pc.min(offsets).as_py() >= start:
        return batch
    return batch.filter(pc.greater_equal(offsets, start))


class TableCommitter:
    """The consumer's one handle on the tables: where partitions start, and durable commits."""

    def __init__(
        self, changes: Table, state: Table | None = None, attempts: int = DEFAULT_ATTEMPTS
    ) -> None:
        self._writers = [TableWriter(changes, _append, attempts)]
        if state is not None:
            self._writers.append(TableWriter(state, stage_upsert, attempts))

    def start_positions(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """On assignment: {partition: offset to consume from}, the lowest next offset any table
        records (0, the beginning, for a partition a table has never seen)."""
        known = [writer.positions(group, topic) for writer in self._writers]
        return {p: min(positions.get(p, 0) for positions in known) for p in partitions}

    def commit(self, group: str, topic: str, batches: Batches) -> dict[int, int]:
        """Commit a flush: change rows appended, then state rows upserted, each table in one
        commit. Returns {partition: next offset} durable in every table: the Kafka offsets to
        commit. Raises on failure; calling again with the same batches is always safe."""
        durable = {partition: next_offset for partition, (_, next_offset) in batches.items()}
        for writer in self._writers:
            committed = writer.commit(group, topic, batches)
            durable = {p: min(durable[p], committed[p]) for p in durable}
        return durable
