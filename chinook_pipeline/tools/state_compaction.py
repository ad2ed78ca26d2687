"""Compaction of an unpartitioned table keyed by one integer column (the state table): bounded
memory, ONE snapshot, every file read once.

The table is planned once: its data and delete files from the snapshot's manifests, the deleted
positions read once and grouped by data file (`chinook_consumer.tables.live_rows`); a scan per
slice would plan the whole table each time, matching every delete file to every data file. The
key range is cut into slices of about SLICE_ROWS live rows (the data files' records less the
deleted positions, spread evenly over their `customer_id` bounds; after many flushes most
records are deleted ones, and counting them would cut more slices).

A file within one slice's range (a file an earlier compaction wrote) is read by that slice. A
file spanning several (every flush writes one: its changes are spread over the whole key range)
is read ONCE, deletes applied, a group of SLICE_ROWS records or one file's batch at a time, and
its rows are spilled to local disk by slice (Arrow IPC, `tempfile`'s directory): read by every
slice instead, 1,000 flushes over 40 slices would be 40,000 reads of S3. Each slice then reads
its own files and its spill, is sorted by key and written as data files before the next is read,
so memory holds one slice and the deleted positions, not the table, and every new file has tight
key bounds. Every data and delete file of that snapshot is then replaced by the new files in one
commit (`chinook_consumer.tables.position_deletes.commit_rewrite`): a reader never sees a
half-compacted table, and a flush that lands meanwhile makes the commit conflict, to be redone
from a fresh plan, so no delete is lost and no file a newer delete names is dropped. A table
without a single integer identifier column is read in one slice.
"""

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    LessThan,
)
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.types import IntegerType, LongType

from chinook_consumer.tables import commit_rewrite, data_files, transaction
from chinook_consumer.tables.live_rows import deleted_positions, live_files
from chinook_consumer.tables.position_deletes import read_rows, record_batches

SLICE_ROWS: Final = (
    250_000  # also the size of the files it writes: the next run reads one at a time
)


@dataclass(frozen=True)
class Slices:
    """The key range [low, low + step * len(files)) cut in slices of `step` keys, and the data
    files whose bounds overlap each slice. Without a `key`, one slice: the whole table."""

    key: str | None
    low: int
    step: int
    files: list[list[DataFile]]

    def row_filter(self, index: int) -> BooleanExpression:
        if self.key is None:
            return AlwaysTrue()
        start = self.low + index * self.step
        return And(GreaterThanOrEqual(self.key, start), LessThan(self.key, start + self.step))

    def spanning(self) -> list[DataFile]:
        """The files that overlap more than one slice, each once."""
        slices = Counter(f.file_path for files in self.files for f in files)
        found = {f.file_path: f for files in self.files for f in files if slices[f.file_path] > 1}
        return list(found.values())

    def index(self, keys: pa.Array) -> pa.Array:
        """The slice of each key (integer division: keys are at least `low`)."""
        return pc.divide(pc.subtract(keys.cast(pa.int64()), self.low), self.step)


def rewrite_table(table: Table, properties: dict[str, str]) -> int:
    """Rewrite `table` whole, slice by slice, as one snapshot carrying `properties`; the rows
    written."""
    schema = table.schema()
    keys = [schema.find_column_name(i) for i in schema.identifier_field_ids]
    data, deletes = live_files(table)
    deleted = deleted_positions(table.io, data, deletes)
    plan = slices(table, keys, data, deleted)
    spanning = plan.spanning()
    spanning_paths = {f.file_path for f in spanning}
    written, added = 0, []
    with (
        TemporaryDirectory(prefix="chinook-compaction-") as spill_dir,
        transaction(table) as staging,
    ):
        spilled = _spill(table, plan, spanning, deleted, Path(spill_dir))
        for index, files in enumerate(plan.files):
            own = [f for f in files if f.file_path not in spanning_paths]
            part = _with_spill(
                read_rows(table, own, deleted, plan.row_filter(index)), spilled[index]
            )
            part = part.sort_by([(key, "ascending") for key in keys]) if keys else part
            added += data_files(staging, part)
            written += part.num_rows
            del part  # one slice in memory at a time
        commit_rewrite(staging, added, properties)
    return written


def slices(
    table: Table, keys: list[str], data: list[DataFile], deleted: dict[str, pa.Array]
) -> Slices:
    """The key ranges of about SLICE_ROWS live rows each (the files' records less the `deleted`
    positions), and the `data` files that can hold each one's rows."""
    whole = Slices(None, 0, 1, [data])
    if not data or len(keys) != 1:
        return whole
    field = table.schema().find_field(keys[0])
    if not isinstance(field.field_type, (IntegerType, LongType)):
        return whole
    bounds: list[tuple[int, int]] = []
    for data_file in data:
        lower, upper = data_file.lower_bounds or {}, data_file.upper_bounds or {}
        if field.field_id not in lower or field.field_id not in upper:
            return whole
        bounds.append(_decoded(lower[field.field_id], upper[field.field_id], field.field_type))
    records = sum(f.record_count for f in data) - sum(len(p) for p in deleted.values())
    low, high = min(b[0] for b in bounds), max(b[1] for b in bounds)
    step = max(1, ceil((high - low + 1) / max(1, ceil(records / SLICE_ROWS))))
    return Slices(
        keys[0],
        low,
        step,
        [
            [
                f
                for f, (lower, upper) in zip(data, bounds, strict=True)
                if lower < start + step and upper >= start
            ]
            for start in range(low, high + 1, step)
        ],
    )


def _spill(
    table: Table,
    plan: Slices,
    spanning: list[DataFile],
    deleted: dict[str, pa.Array],
    directory: Path,
) -> list[Path | None]:
    """Read the `spanning` files once, deletes applied, and write their rows to a file per
    slice in `directory` (LZ4-compressed Arrow IPC); the files, None for a slice without rows."""
    paths: list[Path | None] = [None] * len(plan.files)
    key = plan.key
    if key is None:  # one slice: no file spans two
        return paths
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    schemas: dict[int, pa.Schema] = {}
    try:
        for group in _groups(spanning):
            for batch in record_batches(table, group, deleted, AlwaysTrue()):
                index = plan.index(batch[key])
                for number in pc.unique(index).to_pylist():
                    if number not in writers:
                        paths[number] = directory / f"slice-{number}.arrow"
                        schemas[number] = batch.schema
                        writers[number] = pa.ipc.new_file(
                            str(paths[number]), batch.schema, options=options
                        )
                    part = pa.Table.from_batches([batch.filter(pc.equal(index, number))])
                    writers[number].write_table(part.cast(schemas[number]))
    finally:
        for writer in writers.values():
            writer.close()
    return paths


def _with_spill(rows: pa.Table, spill: Path | None) -> pa.Table:
    if spill is None:
        return rows
    with pa.memory_map(str(spill)) as source:
        spilled = pa.ipc.open_file(source).read_all()
    return pa.concat_tables([rows, spilled], promote_options="permissive")


def _groups(files: list[DataFile]) -> Iterator[list[DataFile]]:
    """`files` in groups of at most SLICE_ROWS records (a larger file alone), read together."""
    group: list[DataFile] = []
    records = 0
    for data_file in files:
        if group and records + data_file.record_count > SLICE_ROWS:
            yield group
            group, records = [], 0
        group.append(data_file)
        records += data_file.record_count
    if group:
        yield group


def _decoded(lower: bytes, upper: bytes, field_type: object) -> tuple[int, int]:
    code = "<i" if isinstance(field_type, IntegerType) else "<q"
    return struct.unpack(code, lower)[0], struct.unpack(code, upper)[0]
