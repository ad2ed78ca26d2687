"""A table's snapshot lineage, as `shared.iceberg.positions` reads it."""

from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of


def lineage(table: Table) -> list[tuple[int, dict[str, str]]]:
    """(snapshot id, summary properties) of the current snapshot and its ancestors, newest first."""
    return [
        (snapshot.snapshot_id, dict(snapshot.summary.additional_properties))
        if snapshot.summary
        else (snapshot.snapshot_id, {})
        for snapshot in ancestors_of(table.current_snapshot(), table.metadata)
    ]


def summaries(table: Table) -> list[dict[str, str]]:
    """The summaries of the current snapshot and its ancestors, newest first."""
    return [summary for _, summary in lineage(table)]
