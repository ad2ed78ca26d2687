"""Compaction of an unpartitioned table keyed by one integer column (the state table): bounded
memory, ONE snapshot.

The table is planned once: its data and delete files from the snapshot's manifests, the deleted
positions read once and grouped by data file (`chinook_consumer.tables.live_rows`); a scan per
slice would plan the whole table each time, matching every delete file to every data file. The
key range is cut into slices of about SLICE_ROWS live rows (the data files' records less the
deleted positions, spread evenly over their `customer_id` bounds; after many flushes most
records are deleted ones, and counting them would cut more slices, each reading every flush's
file again). Each slice reads only the planned files whose bounds overlap it, deletes applied
(`position_deletes.read_rows`), is sorted by key and written as data files before the next is
read, so memory holds one slice and the deleted positions, not the table, and every new file has
tight key bounds. Every data and delete file of that snapshot is then replaced by the new files
in one commit (`chinook_consumer.tables.position_deletes.commit_rewrite`): a reader never sees a
half-compacted table, and a flush that lands meanwhile makes the commit conflict, to be redone
from a fresh plan, so no delete is lost and no file a newer delete names is dropped. A table
without a single integer identifier column is read in one slice.
"""

import struct
from math import ceil
from typing import Final

import pyarrow as pa
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
from chinook_consumer.tables.position_deletes import read_rows

SLICE_ROWS: Final = (
    250_000  # also the size of the files it writes: the next run reads one at a time
)


def rewrite_table(table: Table, properties: dict[str, str]) -> int:
    """Rewrite `table` whole, slice by slice, as one snapshot carrying `properties`; the rows
    written."""
    schema = table.schema()
    keys = [schema.find_column_name(i) for i in schema.identifier_field_ids]
    data, deletes = live_files(table)
    deleted = deleted_positions(table.io, data, deletes)
    written, added = 0, []
    with transaction(table) as staging:
        for row_filter, files in slices(table, keys, data, deleted):
            part = read_rows(table, files, deleted, row_filter)
            part = part.sort_by([(key, "ascending") for key in keys]) if keys else part
            added += data_files(staging, part)
            written += part.num_rows
            del part  # one slice in memory at a time
        commit_rewrite(staging, added, properties)
    return written


def slices(
    table: Table, keys: list[str], data: list[DataFile], deleted: dict[str, pa.Array]
) -> list[tuple[BooleanExpression, list[DataFile]]]:
    """(row filter, the `data` files that can hold its rows) of key ranges of about SLICE_ROWS
    live rows each (the files' records less the `deleted` positions)."""
    whole = [(AlwaysTrue(), data)]
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
    return [
        (
            And(GreaterThanOrEqual(keys[0], start), LessThan(keys[0], start + step)),
            [
                f
                for f, (lower, upper) in zip(data, bounds, strict=True)
                if lower < start + step and upper >= start
            ],
        )
        for start in range(low, high + 1, step)
    ]


def _decoded(lower: bytes, upper: bytes, field_type: object) -> tuple[int, int]:
    code = "<i" if isinstance(field_type, IntegerType) else "<q"
    return struct.unpack(code, lower)[0], struct.unpack(code, upper)[0]
