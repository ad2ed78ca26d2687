"""Compaction of an unpartitioned table keyed by one integer column (the state table): bounded
memory, ONE snapshot.

The key range is cut into slices of about SLICE_ROWS rows (from the data files' record counts and
`customer_id` bounds, as if keys spread evenly over the range). Each slice is read through a
pyiceberg scan (position deletes applied), sorted by key and written as data files before the next
is read, so memory holds one slice, not the table, and every new file has tight key bounds. Every
data and delete file is then replaced by the new files in one commit
(`chinook_consumer.tables.position_deletes.commit_rewrite`): a reader never sees a half-compacted table,
and a flush that lands meanwhile makes the commit conflict, to be redone from a fresh read, so no
delete is lost. A table without a single integer identifier column is read in one slice.
"""

import struct
from math import ceil
from typing import Final

from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    LessThan,
)
from pyiceberg.manifest import DataFileContent
from pyiceberg.table import Table
from pyiceberg.types import IntegerType, LongType

from chinook_consumer.tables import commit_rewrite, data_files, transaction

SLICE_ROWS: Final = (
    250_000  # also the size of the files it writes: the next run reads one at a time
)


def rewrite_table(table: Table, properties: dict[str, str]) -> int:
    """Rewrite `table` whole, slice by slice, as one snapshot carrying `properties`; the rows
    written."""
    schema = table.schema()
    keys = [schema.find_column_name(i) for i in schema.identifier_field_ids]
    written, added = 0, []
    with transaction(table) as staging:
        for row_filter in slices(table, keys):
            part = table.scan(row_filter=row_filter).to_arrow()
            part = part.sort_by([(key, "ascending") for key in keys]) if keys else part
            added += data_files(staging, part)
            written += part.num_rows
            del part  # one slice in memory at a time
        commit_rewrite(staging, added, properties)
    return written


def slices(table: Table, keys: list[str]) -> list[BooleanExpression]:
    """Row filters that cut the table into key ranges of about SLICE_ROWS rows each."""
    snapshot = table.current_snapshot()
    if snapshot is None or len(keys) != 1:
        return [AlwaysTrue()]
    field = table.schema().find_field(keys[0])
    if not isinstance(field.field_type, (IntegerType, LongType)):
        return [AlwaysTrue()]
    bounds: list[tuple[int, int]] = []
    records = 0
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            data_file = entry.data_file
            if data_file.content != DataFileContent.DATA:
                continue
            lower, upper = data_file.lower_bounds or {}, data_file.upper_bounds or {}
            if field.field_id not in lower or field.field_id not in upper:
                return [AlwaysTrue()]
            bounds.append(_decoded(lower[field.field_id], upper[field.field_id], field.field_type))
            records += data_file.record_count
    if not bounds:
        return [AlwaysTrue()]
    low, high = min(b[0] for b in bounds), max(b[1] for b in bounds)
    step = max(1, ceil((high - low + 1) / max(1, ceil(records / SLICE_ROWS))))
    return [
        And(GreaterThanOrEqual(keys[0], start), LessThan(keys[0], start + step))
        for start in range(low, high + 1, step)
    ]


def _decoded(lower: bytes, upper: bytes, field_type: object) -> tuple[int, int]:
    code = "<i" if isinstance(field_type, IntegerType) else "<q"
    return struct.unpack(code, lower)[0], struct.unpack(code, upper)[0]
