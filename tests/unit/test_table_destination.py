"""The Iceberg table destination with a fake committer: where partitions start, the rows a batch
becomes, failures handed back for the state machine to retry, and the seek to the tables'
position."""

import os
import threading
import time
from collections.abc import Iterable, Mapping

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException

from chinook_consumer.buffer import FlushLimits, PartitionBuffer
from chinook_consumer.destination import open_destination
from chinook_consumer.jobs import Batch, FindPosition, Flush, Jobs
from chinook_consumer.partition import Effects, Partition, Rules, State
from chinook_consumer.positions import Position
from chinook_consumer.settings import ConsumerSettings
from chinook_consumer.tables.committer import _unseen
from chinook_consumer.tables.destination import TableDestination, batch_rows
from chinook_shared.arrow import batch_to_changes
from chinook_shared.changes import Customer, CustomerChange, Operation
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.iceberg.catalog import CatalogSettingsError
from chinook_shared.iceberg.settings import CatalogSettings
from chinook_shared.kafka import KafkaSettings
from chinook_shared.retry import RetryPolicy, classify
from chinook_shared.s3 import S3Settings

HOUR_MS = 3_600_000
T = 1_710_064_800_000  # 2024-03-10T10:00:00Z


def change(sequence: int) -> bytes:
    message = CustomerChange(op=Operation.OPERATION_INSERT, sequence=sequence, customer_id=7)
    message.after.CopyFrom(Customer(customer_id=7, first_name="A", last_name="B", email="e"))
    return message.SerializeToString()


class FakeCommitter:
    """Stands in for TableCommitter: records every commit; fails the first `failures` ones."""

    def __init__(self, positions: dict[int, int], failures: int = 0) -> None:
        self.positions, self.failures = positions, failures
        self.commits: list[tuple[str, str, dict[int, tuple[pa.RecordBatch, int]]]] = []

    def start_positions(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        return {p: self.positions.get(p, 0) for p in partitions}

    def commit(
        self, group: str, topic: str, batches: Mapping[int, tuple[pa.RecordBatch, int]]
    ) -> dict[int, int]:
        if self.failures:
            self.failures -= 1
            raise CommitFailedException("20 conflicting commits in a row on chinook.changes")
        self.commits.append((group, topic, dict(batches)))
        for partition, (_, next_offset) in batches.items():
            self.positions[partition] = max(self.positions.get(partition, 0), next_offset)
        return {p: self.positions[p] for p in batches}


ROOMY = FlushLimits(1000, 1_000_000, 5.0)


def destination(committer: FakeCommitter, limits: FlushLimits = ROOMY) -> TableDestination:
    return TableDestination(committer, "g", "t", limits)  # type: ignore[arg-type]


def buffer_with_poison() -> PartitionBuffer:
    """Offsets 5..9: two hours of records, a rejected record (7) and a tombstone (9) covered."""
    buffer = PartitionBuffer(None)
    buffer.add(5, T, change(1), 0.0)
    buffer.add(6, T + HOUR_MS, change(2), 0.0)
    buffer.cover(7, 0.0)
    buffer.add(8, T + 10, change(3), 0.0)
    buffer.cover(9, 0.0)
    return buffer


def test_a_partition_starts_at_the_tables_position_and_seeks_there() -> None:
    tables = destination(FakeCommitter({3: 120}))
    assert tables.find(3, None) == Position(120, seek=True)
    assert tables.find(4, 9) == Position(0, seek=True)  # never seen: from the beginning


def test_a_batch_becomes_rows_with_their_kafka_coordinates() -> None:
    rows = batch_rows(2, buffer_with_poison())
    assert rows.num_rows == 3
    assert sorted(rows["kafka_offset"].to_pylist()) == [5, 6, 8]
    assert set(rows["kafka_partition"].to_pylist()) == {2}
    by_offset = dict(zip(rows["kafka_offset"].to_pylist(), batch_to_changes(rows), strict=True))
    assert by_offset == {5: change(1), 6: change(2), 8: change(3)}
    stamps = dict(
        zip(rows["kafka_offset"].to_pylist(), rows["kafka_timestamp"].to_pylist(), strict=True)
    )
    assert int(stamps[6].timestamp() * 1000) == T + HOUR_MS


def test_a_flush_commits_rows_and_the_end_past_rejected_records() -> None:
    committer = FakeCommitter({})
    destination(committer).flush(2, buffer_with_poison())
    ((group, topic, batches),) = committer.commits
    rows, next_offset = batches[2]
    assert (group, topic, next_offset, rows.num_rows) == ("g", "t", 10, 3)
    assert committer.positions == {2: 10}  # a restart starts past the poison


def test_a_batch_without_rows_still_moves_the_tables_position() -> None:
    buffer = PartitionBuffer(None)
    buffer.cover(40, 0.0)
    buffer.cover(41, 0.0)
    committer = FakeCommitter({})
    destination(committer).flush(0, buffer)
    assert committer.commits[0][2][0][0].num_rows == 0 and committer.positions == {0: 42}


def test_a_failed_commit_is_handed_back_transient_and_the_same_batch_can_go_again() -> None:
    committer = FakeCommitter({}, failures=1)
    tables = destination(committer)
    buffer = buffer_with_poison()
    with pytest.raises(CommitFailedException) as raised:
        tables.flush(2, buffer)
    assert not classify(raised.value).permanent
    tables.flush(2, buffer)
    assert committer.positions == {2: 10}


def test_jobs_run_the_table_destination_like_the_object_one() -> None:
    committer = FakeCommitter({0: 7}, failures=1)
    tables = destination(committer)
    jobs = Jobs(1, tables, tables)
    partition = make_partition()
    jobs.start(FindPosition(0, 3))
    jobs.wait([0], 10)
    ((_, found),) = jobs.finished()
    assert found.result() == Position(7, seek=True)
    assert partition.recovered(found.result()) == Effects(resume=True, seek=7)
    buffer = PartitionBuffer(None)
    buffer.add(7, T, change(1), 0.0)
    jobs.start(Flush(0, Batch(buffer)))
    jobs.wait([0], 10)
    ((_, failed),) = jobs.finished()
    assert isinstance(failed.exception(), CommitFailedException)
    jobs.close()


def make_partition(committed: int | None = 3) -> Partition:
    return Partition(
        0, committed, Rules("t", FlushLimits(10, 1_000, 5.0), RetryPolicy(), lambda: 0.0)
    )


def test_recovering_from_the_tables_seeks_whatever_kafka_committed() -> None:
    for committed in (None, 3, 500):  # behind the tables, none, ahead (e.g. a reused group)
        partition = make_partition(committed)
        partition.start()
        partition.end_of_partition()  # seen at the committed offset: it no longer counts
        effects = partition.recovered(Position(120, seek=True))
        assert effects == Effects(resume=True, seek=120)
        assert partition.state is State.FILLING and partition.next_offset == 120
        assert not partition.eof and not partition.drained


class GatedCommitter(FakeCommitter):
    """The first commit waits for `gate`."""

    def __init__(self) -> None:
        super().__init__({})
        self.gate, self.entered = threading.Event(), threading.Event()

    def commit(
        self, group: str, topic: str, batches: Mapping[int, tuple[pa.RecordBatch, int]]
    ) -> dict[int, int]:
        if not self.commits:
            self.entered.set()
            assert self.gate.wait(10)
        return super().commit(group, topic, batches)


def test_partitions_flushing_meanwhile_share_one_commit() -> None:
    committer = GatedCommitter()
    tables = destination(committer)
    results: dict[int, None] = {}

    def flush(partition: int) -> threading.Thread:
        buffer = PartitionBuffer(None)
        buffer.add(partition * 10, T, change(partition), 0.0)
        thread = threading.Thread(
            target=lambda: results.update({partition: tables.flush(partition, buffer)})
        )
        thread.start()
        return thread

    threads = [flush(0)]
    assert committer.entered.wait(10)
    threads += [flush(1), flush(2)]
    deadline = time.monotonic() + 10
    while len(tables._queue) < 2 and time.monotonic() < deadline:  # both waiting for the first
        time.sleep(0.01)
    committer.gate.set()
    for thread in threads:
        thread.join(10)
    assert results == {0: None, 1: None, 2: None}  # each returned: durable
    assert [sorted(batches) for _, _, batches in committer.commits] == [[0], [1, 2]]
    assert committer.positions == {0: 1, 1: 11, 2: 21}


def test_table_options_checked_at_construction() -> None:
    kafka, s3 = KafkaSettings("localhost:1"), S3Settings()
    tables = ConsumerSettings(kafka, s3, table="chinook.customer_changes")
    assert tables.bucket is None and tables.flush_seconds == 30.0
    assert ConsumerSettings(kafka, s3, "chinook-data").flush_seconds == 10.0
    assert ConsumerSettings(kafka, s3, table="a.b", flush_age=2.0).flush_seconds == 2.0
    with pytest.raises(PipelineError, match="--bucket is required"):
        ConsumerSettings(kafka, s3)
    with pytest.raises(PipelineError, match="--state-table needs --table"):
        ConsumerSettings(kafka, s3, "chinook-data", state_table="chinook.customers")


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        (CatalogSettings(uri="not a url"), "bad catalog URI"),
        (CatalogSettings(uri="nosuchdb://user:hunter2@host/x"), "no database driver"),
        (CatalogSettings(name="chinook-unconfigured"), "no Iceberg catalog configured"),
    ],
)
def test_catalog_settings_that_cannot_work_stop_the_start_at_once(
    catalog: CatalogSettings, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("PYICEBERG_")]:
        monkeypatch.delenv(name)
    settings = ConsumerSettings(
        KafkaSettings("localhost:1"), S3Settings(), table="a.b", catalog=catalog
    )
    started = time.monotonic()
    with pytest.raises(CatalogSettingsError, match=message) as caught:
        open_destination(settings, Health(), threading.Event())
    assert time.monotonic() - started < 5 and "hunter2" not in str(caught.value)


def queue_flushes(
    tables: TableDestination, committer: GatedCommitter, buffers: Mapping[int, PartitionBuffer]
) -> list[threading.Thread]:
    """Flush each buffer on its own thread, in order: the first commit waits for the gate, the
    others queue behind it (each queued before the next starts)."""
    threads = []
    for queued, (partition, buffer) in enumerate(buffers.items()):
        threads.append(threading.Thread(target=tables.flush, args=(partition, buffer)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            committer.entered.is_set() and len(tables._queue) == queued
        ):
            time.sleep(0.005)
    return threads


def records(count: int) -> PartitionBuffer:
    buffer = PartitionBuffer(None)
    for offset in range(count):
        buffer.add(offset, T, change(offset), 0.0)
    return buffer


def test_a_commit_takes_waiting_batches_only_up_to_the_flush_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memory bound: batches wait as buffered bytes, and become Arrow rows only in the one
    commit that takes them, at most a batch's limits of records and bytes (or one larger flush),
    however many partitions are waiting."""
    converted: list[int] = []  # records made Arrow rows

    def counting_rows(partition: int, buffer: PartitionBuffer) -> pa.RecordBatch:
        converted.append(buffer.count)
        return batch_rows(partition, buffer)

    monkeypatch.setattr("chinook_consumer.tables.destination.batch_rows", counting_rows)
    committer = GatedCommitter()
    tables = destination(committer, FlushLimits(records=4, bytes=1_000_000, age=5.0))
    sizes = {0: 1, 1: 2, 2: 2, 3: 3, 4: 6, 5: 1}  # partition: records in its batch
    threads = queue_flushes(tables, committer, {p: records(n) for p, n in sizes.items()})
    assert len(tables._queue) == 5 and converted == [1]  # the waiting batches are not Arrow yet
    committer.gate.set()
    for thread in threads:
        thread.join(10)
    commits = [batches for *_, batches in committer.commits]
    assert [sorted(batches) for batches in commits] == [[0], [1, 2], [3], [4], [5]]
    assert [sum(rows.num_rows for rows, _ in batches.values()) for batches in commits] == [
        1,
        4,
        3,
        6,  # one batch over the limits goes alone
        1,
    ]
    assert committer.positions == sizes


def test_a_commit_takes_waiting_batches_only_up_to_the_flush_bytes() -> None:
    committer = GatedCommitter()
    tables = destination(committer, FlushLimits(records=1000, bytes=2 * len(change(0)), age=5.0))
    threads = queue_flushes(tables, committer, {p: records(1) for p in range(4)})
    committer.gate.set()
    for thread in threads:
        thread.join(10)
    assert [sorted(batches) for *_, batches in committer.commits] == [[0], [1, 2], [3]]


def test_a_batch_the_table_holds_none_of_is_committed_without_a_copy() -> None:
    rows = batch_rows(2, buffer_with_poison())  # offsets 5, 6, 8
    pending, (kept,) = _unseen({2: (rows, 10)}, {2: 5})
    assert pending == {2: 10} and kept is rows
    pending, (kept,) = _unseen({2: (rows, 10)}, {2: 7})
    assert kept.column("kafka_offset").to_pylist() == [8]
