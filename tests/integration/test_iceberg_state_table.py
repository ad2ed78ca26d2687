"""The state table over many flushes (moto S3, a SQLite catalog): one snapshot per flush, every
snapshot a state the table held after a whole flush (by version and by timestamp), readers that
agree (pyiceberg, DuckDB over the raw Parquet files), and maintenance that keeps all of it."""

import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.table import Table

from chinook_consumer.tables import live_rows
from chinook_consumer.tables.committer import TableCommitter
from chinook_consumer.tables.definitions import open_change_table, open_state_table
from chinook_consumer.tables.live_rows import live_files
from chinook_consumer.tables.retention import MAX_AGE
from chinook_consumer.tables.state import latest_events, state_rows
from chinook_pipeline.tools import state_compaction
from chinook_pipeline.tools.iceberg_maintain import maintain
from chinook_shared.changes import Operation
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.iceberg.positions import recover
from chinook_shared.iceberg.snapshots import summaries
from chinook_shared.s3 import S3Settings
from tests.table_batches import batch, change

GROUP, TOPIC = "chinook-state", "chinook.customers"
CHANGES, STATE = "chinook.customer_changes", "chinook.customers"
State = dict[int, tuple[int, str]]


@pytest.fixture()
def catalog(tmp_path: Path, bucket: str) -> Catalog:
    return open_catalog(
        CatalogSettings(f"sqlite:///{tmp_path}/catalog.db", f"s3://{bucket}/lake"), S3Settings()
    )


def state_at(table: Table, snapshot_id: int | None = None) -> State:
    rows = table.scan(snapshot_id=snapshot_id, selected_fields=("customer_id", "sequence", "city"))
    found = rows.to_arrow().to_pylist()
    assert len(found) == len({row["customer_id"] for row in found}), "a customer has two rows"
    return {row["customer_id"]: (row["sequence"], row["city"]) for row in found}


def flushes(lake: TableCommitter, count: int, seed: int, first_offset: int = 0) -> list[State]:
    """`count` flushes of random inserts, updates and deletes (some stale, some repeated);
    the state after each, as a model of the table computes it."""
    rng, model, states, offset = random.Random(seed), {}, [], first_offset
    sequence = 1000 * (first_offset + 1)
    for _ in range(count):
        values = []
        for _ in range(rng.randint(1, 12)):
            customer, sequence = rng.randint(1, 40), sequence + 1
            op = rng.choice([Operation.OPERATION_UPDATE] * 4 + [Operation.OPERATION_DELETE])
            stale = rng.random() < 0.1
            number = sequence - 900 if stale else sequence
            values.append(change(number, customer, op, city=f"C{number}"))
            held = model.get(customer)
            if held is None or number > held[0]:
                if op == Operation.OPERATION_DELETE:
                    model.pop(customer, None)
                    model[-customer] = (number, "")  # a tombstone only the model keeps
                else:
                    model[customer] = (number, f"C{number}")
        lake.commit(GROUP, TOPIC, {0: batch(0, offset, values)})
        offset += len(values)
        states.append({k: v for k, v in model.items() if k > 0})
    return states


def test_every_snapshot_is_a_whole_flush_by_version_and_by_timestamp(catalog: Catalog) -> None:
    lake = TableCommitter(open_change_table(catalog, CHANGES), open_state_table(catalog, STATE))
    with catalog.load_table(STATE).transaction() as transaction:
        transaction.set_properties({MAX_AGE: "3600000"})  # keep every snapshot for the check
    states = flushes(lake, 12, seed=7)
    table = catalog.load_table(STATE)
    snapshots = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    assert len(snapshots) == 12, "one snapshot per flush"
    for snapshot, expected in zip(snapshots, states, strict=True):
        assert state_at(table, snapshot.snapshot_id) == expected
        as_of = table.snapshot_as_of_timestamp(snapshot.timestamp_ms)
        assert as_of is not None and state_at(table, as_of.snapshot_id) in states
    deletes = [
        task
        for task in table.scan().plan_files()
        if any(d.content == DataFileContent.POSITION_DELETES for d in task.delete_files)
    ]
    assert deletes, "replaced rows were not removed by position deletes"
    assert duckdb_state(table) == states[-1]


@pytest.mark.parametrize("small_file_rows", [live_rows.SMALL_FILE_ROWS, 0], ids=["kept", "read"])
def test_maintenance_merges_files_in_one_snapshot_and_keeps_state_and_positions(
    catalog: Catalog, s3_client: object, monkeypatch: pytest.MonkeyPatch, small_file_rows: int
) -> None:
    """Both lookups: files kept in memory, and files read by row group (as large files are,
    their sequences taken from the file's bound when every change is newer)."""
    monkeypatch.setattr(live_rows, "SMALL_FILE_ROWS", small_file_rows)
    monkeypatch.setattr(state_compaction, "SLICE_ROWS", 7)  # several slices of the 40 keys
    lake = TableCommitter(open_change_table(catalog, CHANGES), open_state_table(catalog, STATE))
    states = flushes(lake, 6, seed=3)
    table = catalog.load_table(STATE)
    positions = recover(summaries(table), GROUP, TOPIC)
    snapshots = len(table.snapshots())
    data = sorted(f.file_path for f in live_files(table)[0])
    read = files_read(monkeypatch)
    lines = list(maintain(table, s3_client, timedelta(hours=1), dry_run=False))
    assert sorted(read) == data, "every data file read once, though most span several slices"
    assert lines[0].startswith(f"{STATE}: compacted the table (")
    table.refresh()
    assert len(table.snapshots()) == snapshots + 1
    tasks = list(table.scan().plan_files())
    assert len(tasks) > 1 and not any(task.delete_files for task in tasks)
    assert state_at(table) == states[-1] == duckdb_state(table)
    assert recover(summaries(table), GROUP, TOPIC) == positions
    lake.commit(GROUP, TOPIC, {0: batch(0, positions[0], [change(10**6, 5, city="After")])})
    assert state_at(catalog.load_table(STATE)) == {**states[-1], 5: (10**6, "After")}


def files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The data files compaction reads (by a slice, or once for every slice it spans), as they
    are read."""
    read: list[str] = []
    for name in ("read_rows", "record_batches"):
        original = getattr(state_compaction, name)

        def spy(table: Table, files: list[DataFile], *args: Any, _read: Any = original) -> Any:
            read.extend(f.file_path for f in files)
            return _read(table, files, *args)

        monkeypatch.setattr(state_compaction, name, spy)
    return read


def test_a_table_of_the_whole_rewrite_design_keeps_working(catalog: Catalog) -> None:
    """Plain data files, as `overwrite` left them, then flushes of this design."""
    table = open_state_table(catalog, STATE)
    old = latest_events(pa.Table.from_batches([batch(0, 0, [change(i, i) for i in (1, 2, 3)])[0]]))
    table.overwrite(state_rows(old), overwrite_filter=AlwaysTrue())
    lake = TableCommitter(open_change_table(catalog, CHANGES), table)
    lake.commit(GROUP, TOPIC, {0: batch(0, 0, [change(10, 2, city="Bergen")])})
    lake.commit(GROUP, TOPIC, {0: batch(0, 1, [change(11, 3, Operation.OPERATION_DELETE)])})
    table.refresh()
    assert state_at(table) == {1: (1, "Oslo"), 2: (10, "Bergen")} == duckdb_state(table)


def duckdb_state(table: Table) -> State:
    """The current (sequence, city) of each customer, as DuckDB reads the files."""
    rows = duckdb_rows(table, ("customer_id", "sequence", "city"))
    return {customer: (sequence, city) for customer, sequence, city in rows}


def duckdb_rows(table: Table, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The current rows' `columns` (the first one the key) read by DuckDB from the Parquet files
    themselves, in key order: data files less the rows their position-delete files name
    (file_path, pos), as any v2 reader applies them."""
    table.refresh()
    tasks = list(table.scan().plan_files())
    data = [_arrow(table, task.file.file_path) for task in tasks]
    paths = {d.file_path for task in tasks for d in task.delete_files}
    rows = pa.concat_tables(
        [
            part.select(list(columns))
            .append_column("file_path", pa.array([task.file.file_path] * part.num_rows))
            .append_column("pos", pa.array(range(part.num_rows), pa.int64()))
            for part, task in zip(data, tasks, strict=True)
        ]
    )
    deleted = pa.concat_tables(
        [_arrow(table, path).select(["file_path", "pos"]) for path in paths]
        or [pa.table({"file_path": pa.array([], pa.string()), "pos": pa.array([], pa.int64())})]
    )
    connection = duckdb.connect()
    connection.register("data_rows", rows)
    connection.register("deleted_rows", deleted)
    selected = ", ".join(f'd."{column}"' for column in columns)
    found = connection.execute(
        f"SELECT {selected} FROM data_rows d WHERE NOT EXISTS ("
        "SELECT 1 FROM deleted_rows x WHERE x.file_path = d.file_path AND x.pos = d.pos) "
        "ORDER BY 1"
    ).fetchall()
    assert len(found) == len({row[0] for row in found}), "DuckDB: a customer has two rows"
    return found


def _arrow(table: Table, path: str) -> pa.Table:
    import pyarrow.parquet as pq

    with table.io.new_input(path).open() as stream:
        return pq.read_table(stream)
