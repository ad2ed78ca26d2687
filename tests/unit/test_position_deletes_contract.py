"""Contract of consumer/tables/position_deletes.py with the pyiceberg internals it uses, pinned to
one version: a pyiceberg upgrade fails here first, not in a reader's results."""

import inspect
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import AlwaysTrue, GreaterThanOrEqual
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFileContent, ManifestContent, ManifestWriterV2
from pyiceberg.table import FileScanTask, Table, Transaction
from pyiceberg.table.update.snapshot import ExpireSnapshots, _MergeAppendFiles, _SnapshotProducer

from chinook_consumer.tables import position_deletes
from chinook_consumer.tables.position_deletes import (
    PYICEBERG_VERSION,
    commit_rewrite,
    commit_row_delta,
    data_files,
    expire_snapshots,
    position_delete_file,
    read_rows,
)

ROWS = pa.schema([pa.field("id", pa.int64(), False), pa.field("name", pa.string())])


@pytest.fixture()
def table(tmp_path: Path) -> Table:
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path}/c.db", warehouse=f"file://{tmp_path}/w")
    catalog.create_namespace("n")
    created = catalog.create_table("n.t", ROWS)
    created.append(pa.table({"id": [1, 2, 3, 4], "name": list("abcd")}, schema=ROWS))
    return created


def ids(table: Table, snapshot_id: int | None = None) -> list[int]:
    table.refresh()
    return sorted(table.scan(snapshot_id=snapshot_id).to_arrow()["id"].to_pylist())


def test_the_pinned_pyiceberg_version_is_installed() -> None:
    assert version("pyiceberg") == PYICEBERG_VERSION, (
        "pyiceberg changed: check position_deletes.py against its internals, then re-pin"
    )


def test_the_internals_keep_the_shapes_the_module_relies_on() -> None:
    producer = inspect.signature(_SnapshotProducer.__init__).parameters
    assert list(producer)[:4] == ["self", "operation", "transaction", "io"]
    assert {"snapshot_properties", "commit_uuid", "branch"} <= set(producer)
    assert {"snapshot_properties"} <= set(inspect.signature(_MergeAppendFiles.__init__).parameters)
    for name in ("_existing_manifests", "_deleted_entries", "_summary", "new_manifest_output"):
        assert callable(getattr(_SnapshotProducer, name))
    assert hasattr(ManifestWriterV2, "content") and hasattr(ManifestWriterV2, "_meta")
    assert list(inspect.signature(ExpireSnapshots.__init__).parameters)[:2] == [
        "self",
        "transaction",
    ]
    assert isinstance(inspect.getattr_static(Transaction, "table_metadata"), property)
    reader = inspect.signature(ArrowScan._record_batches_from_scan_tasks_and_deletes).parameters
    assert list(reader) == ["self", "tasks", "deletes_per_file"]
    assert list(inspect.signature(FileScanTask.__init__).parameters)[:2] == ["self", "data_file"]


def test_a_transaction_copies_the_metadata_once_per_staged_change(table: Table) -> None:
    staging = position_deletes.transaction(table)
    first = staging.table_metadata
    assert staging.table_metadata is first and first == table.metadata
    staging.set_properties({"owner": "state"})
    assert staging.table_metadata is not first
    assert staging.table_metadata.properties["owner"] == "state"
    staging.commit_transaction()
    assert table.properties["owner"] == "state"


def test_snapshots_expire_in_one_commit(table: Table) -> None:
    table.append(pa.table({"id": [5], "name": ["e"]}, schema=ROWS))
    table.append(pa.table({"id": [6], "name": ["f"]}, schema=ROWS))
    old = [s.snapshot_id for s in sorted(table.snapshots(), key=lambda s: s.sequence_number)]
    expire_snapshots(table, old[:2])
    assert [s.snapshot_id for s in table.snapshots()] == old[2:]
    assert ids(table) == [1, 2, 3, 4, 5, 6]


def test_a_row_delta_is_one_snapshot_the_scan_applies(table: Table) -> None:
    before = len(table.snapshots())
    victim = next(iter(table.scan().plan_files())).file.file_path
    with table.transaction() as transaction:
        deletes = position_delete_file(transaction, pa.table({"file_path": [victim], "pos": [1]}))
        added = data_files(transaction, pa.table({"id": [2, 5], "name": ["B", "e"]}, schema=ROWS))
        commit_row_delta(transaction, added, deletes, {"mark": "x"})
    table.refresh()
    assert len(table.snapshots()) == before + 1
    snapshot = table.current_snapshot()
    assert snapshot.summary.operation.value == "overwrite"
    assert snapshot.summary["mark"] == "x"
    assert snapshot.summary["added-position-deletes"] == "1"
    contents = {m.content for m in snapshot.manifests(table.io)}
    assert contents == {ManifestContent.DATA, ManifestContent.DELETES}
    assert deletes.content == DataFileContent.POSITION_DELETES
    assert ids(table) == [1, 2, 3, 4, 5]
    assert table.scan().to_arrow().sort_by("id")["name"].to_pylist() == list("aBcde")


def test_planned_files_are_read_with_their_deletes_and_filter(table: Table) -> None:
    data = next(iter(table.scan().plan_files())).file
    deleted = {data.file_path: pa.array([1], pa.int64())}
    assert sorted(read_rows(table, [data], deleted, AlwaysTrue())["id"].to_pylist()) == [1, 3, 4]
    kept = read_rows(table, [data], deleted, GreaterThanOrEqual("id", 2))
    assert kept.schema == table.scan().to_arrow().schema
    assert sorted(kept["id"].to_pylist()) == [3, 4]
    assert read_rows(table, [], {}, AlwaysTrue()).num_rows == 0


def test_a_row_delta_without_deletes_is_an_append(table: Table) -> None:
    with table.transaction() as transaction:
        added = data_files(transaction, pa.table({"id": [9], "name": ["z"]}, schema=ROWS))
        commit_row_delta(transaction, added, None, {})
    assert table.current_snapshot().summary.operation.value == "append"
    assert ids(table) == [1, 2, 3, 4, 9]


def test_a_rewrite_replaces_every_file_in_one_snapshot(table: Table) -> None:
    victim = next(iter(table.scan().plan_files())).file.file_path
    with table.transaction() as transaction:
        deletes = position_delete_file(transaction, pa.table({"file_path": [victim], "pos": [0]}))
        commit_row_delta(transaction, [], deletes, {})
    before = len(table.snapshots())
    rows = table.scan().to_arrow()
    with table.transaction() as transaction:
        commit_rewrite(transaction, data_files(transaction, rows.sort_by("id")), {"mark": "y"})
    table.refresh()
    assert len(table.snapshots()) == before + 1
    tasks = list(table.scan().plan_files())
    assert len(tasks) == 1 and not tasks[0].delete_files
    assert ids(table) == [2, 3, 4]
    assert table.current_snapshot().summary["total-delete-files"] == "0"
    assert table.current_snapshot().summary["total-records"] == "3"


def test_delete_manifests_pile_up_then_are_folded_into_one_and_every_delete_still_applies(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(position_deletes, "FOLD_DELETE_MANIFESTS", 3)
    victim = next(iter(table.scan().plan_files())).file.file_path
    counts, states = [], []
    for position in (0, 2, 3):
        with table.transaction() as transaction:
            deletes = position_delete_file(
                transaction, pa.table({"file_path": [victim], "pos": [position]})
            )
            commit_row_delta(transaction, [], deletes, {})
        table.refresh()
        manifests = table.current_snapshot().manifests(table.io)
        counts.append([m.content for m in manifests].count(ManifestContent.DELETES))
        states.append(ids(table))
    assert counts == [1, 2, 1], "a delete manifest per commit until 3 pile up, then one"
    assert states == [[2, 3, 4], [2, 4], [2]]
    first_delete = sorted(table.snapshots(), key=lambda s: s.sequence_number)[1]
    assert ids(table, first_delete.snapshot_id) == [2, 3, 4]
