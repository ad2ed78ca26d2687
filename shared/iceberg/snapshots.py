"""A table's snapshot lineage, as `chinook_shared.iceberg.positions` reads it, and which snapshots may go."""

from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from chinook_shared.iceberg.positions import snapshots_to_keep


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


def expirable(table: Table, before_ms: float, newest_kept: int = 0) -> set[int]:
    """Ids of the snapshots taken before `before_ms` (epoch ms) that may be expired: all but the
    `newest_kept` newest, branch and tag heads, and the lineage recovery needs."""
    keep = snapshots_to_keep(lineage(table))
    keep |= {ref.snapshot_id for ref in table.metadata.refs.values()}
    newest = sorted(table.snapshots(), key=lambda s: s.timestamp_ms, reverse=True)
    keep |= {snapshot.snapshot_id for snapshot in newest[:newest_kept]}
    return {s.snapshot_id for s in table.snapshots() if s.timestamp_ms < before_ms} - keep
