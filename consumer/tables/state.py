"""The state table: one row per live customer, never moved back in time.

A flush's events are reduced to the latest per customer (highest `sequence`); each is compared
with the row the table holds, and wins only when its sequence is higher. A winning DELETE removes
the row; any other winner replaces it.

Merge-on-read, one snapshot per flush: the rows a flush replaces or deletes are found by key
(`live_rows`: only the files whose `customer_id` bounds can hold a changed key, only their key
and sequence columns), removed by one v2 position-delete file, and the winners added as one data
file sorted by key, both in ONE commit (`position_deletes.commit_row_delta`). A reader, by time or
by snapshot, only ever sees the table as a whole flush left it, and a flush costs what its changes
touch, not the table. What a flush wrote is kept for the next (`live_rows.remember`). Delete files and small files pile up; `iceberg maintain` merges them.

pyiceberg's own `upsert` is not used: it compares every column rather than the sequence, cannot
delete, and rewrites whole files. Its `overwrite` commits two snapshots (a delete, then the append).
"""

from functools import cache
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.table import Table, Transaction

from chinook_consumer.tables.live_rows import live_rows, remember
from chinook_consumer.tables.position_deletes import (
    commit_row_delta,
    data_files,
    position_delete_file,
)
from chinook_shared.arrow import change_schema
from chinook_shared.changes import Operation

KEY: Final = "customer_id"
SEQUENCE: Final = "sequence"
DELETE: Final = Operation.Name(Operation.OPERATION_DELETE)
_EVENT_FIELDS: Final = ("sequence", "op", "captured_at")


@cache
def state_schema() -> pa.Schema:
    """The customer's columns (the descriptor's `after` message), then the sequence, operation
    and capture time of the change that produced the row."""
    after = change_schema().field("after").type
    events = change_schema()
    return pa.schema([*after, *(events.field(name) for name in _EVENT_FIELDS)])


def latest_events(events: pa.Table) -> pa.Table:
    """One event per customer: the one with the highest sequence (a record delivered twice
    counts once)."""
    ordered = events.sort_by([(KEY, "ascending"), (SEQUENCE, "descending")])
    if ordered.num_rows < 2:
        return ordered
    keys = ordered[KEY].combine_chunks()
    changed = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    return ordered.filter(pa.concat_arrays([pa.array([True]), changed]))


def winners(latest: pa.Table, existing: pa.Table) -> pa.Table:
    """The latest events that are newer than the table's row for their customer (or whose
    customer has no row). `existing` holds (customer_id, sequence) of the table's rows."""
    current = existing.rename_columns([KEY, "current_sequence"])
    joined = latest.select([KEY, SEQUENCE]).join(current, KEY, join_type="left outer")
    newer = pc.or_kleene(
        pc.is_null(joined["current_sequence"]),
        pc.greater(joined[SEQUENCE], joined["current_sequence"]),
    )
    return latest.filter(pc.is_in(latest[SEQUENCE], value_set=joined.filter(newer)[SEQUENCE]))


def state_rows(events: pa.Table) -> pa.Table:
    """The state rows of non-delete events: `after` flattened, plus the event's fields."""
    kept = events.filter(pc.not_equal(events["op"], DELETE))
    after = kept["after"].combine_chunks() if kept.num_rows else None
    schema = state_schema()
    columns = [
        pc.struct_field(after, field.name) if after is not None else pa.array([], field.type)
        for field in change_schema().field("after").type
    ]
    columns += [kept[name] for name in _EVENT_FIELDS]
    return pa.Table.from_arrays(columns, schema=schema)


def stage_upsert(
    transaction: Transaction, table: Table, events: pa.Table, properties: dict[str, str]
) -> None:
    """Stage, in `transaction`, the state change of `events` against `table` (the snapshot the
    transaction starts from) as ONE snapshot: replaced and deleted rows removed by position, new
    rows added, `properties` in its summary. Always stages one snapshot, so positions are
    recorded."""
    latest = latest_events(events)
    floor = pc.min(latest[SEQUENCE]).as_py() if latest.num_rows else None
    current = live_rows(table, latest[KEY], floor)
    won = winners(latest, current.select([KEY, SEQUENCE]))
    replaced = current.filter(pc.is_in(current[KEY], value_set=won[KEY]))
    deletes = position_delete_file(transaction, replaced) if replaced.num_rows else None
    rows = state_rows(won).sort_by(KEY)
    added = data_files(transaction, rows)
    commit_row_delta(transaction, added, deletes, properties)
    if deletes is not None:
        remember(deletes, replaced)
    if len(added) == 1:
        remember(added[0], rows)
