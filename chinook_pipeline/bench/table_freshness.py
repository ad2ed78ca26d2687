"""Table freshness: SQLite commit -> a row in the Iceberg tables, at a steady write rate.

A producer and `consumer --table --state-table --flush-age` (a SQLite catalog of its own, the
tables' files in the bench's bucket) run while `write` changes the database at `--freshness-rate`,
as for the objects' freshness. A `TableWatcher` per table checks the catalog every 0.1 s and
reads the data files each new snapshot added; each change's latency is the time from its capture
to the check that first found its row in the table (what a reader polling the catalog would
see). The consumer commits the change table, then the state table, once a partition's batch is
`--flush-age` old.

The state table holds a change only when it is its customer's latest in its flush and not a
delete, so its figures cover the changes that do appear there, all of them.
"""

import time
from pathlib import Path
from typing import TYPE_CHECKING

from chinook_pipeline.bench.probes import FRESHNESS_CUSTOMERS, last_change
from chinook_pipeline.bench.report import percentile
from chinook_pipeline.bench.steady import steady_pipeline, write_steadily
from chinook_pipeline.bench.table import metadata_location, s3_properties
from chinook_pipeline.local.processes import DRAIN_TIMEOUT
from chinook_shared import names
from chinook_shared.errors import PipelineError

if TYPE_CHECKING:
    from chinook_pipeline.bench.session import Session

CHANGES = "bench.fresh_changes"
STATE = "bench.fresh_customers"


class TableWatcher:
    """Watches a table of a SQLite catalog; for each row with a sequence from `first` on, the
    seconds from its capture to the check that first found the catalog pointing at a snapshot
    holding it.

    A check is one read of the table's metadata location in the catalog database, a query of
    microseconds (a commit that meets it waits that long), so checks can be frequent without
    slowing what they measure; only a new location is loaded, and only the data files its new
    snapshots added are read."""

    def __init__(self, catalog_db: Path, name: str, properties: dict[str, str], first: int) -> None:
        self.catalog_db, self.properties, self.first = catalog_db, properties, first
        self.name = name
        self.location: str | None = None
        self.snapshots: set[int] = set()
        self.files: set[str] = set()
        self.latencies: dict[int, float] = {}  # change sequence -> seconds

    def check(self) -> tuple[str, float] | None:
        """The table's new metadata location and when it was seen; None when unchanged."""
        checked_at = time.time()
        location = metadata_location(self.catalog_db, self.name)
        if location is None or location == self.location:
            return None
        self.location = location
        return location, checked_at

    def read(self, location: str, checked_at: float) -> None:
        """Record the latency of every row the snapshots new in `location` added."""
        import pyarrow.parquet as pq
        from pyiceberg.manifest import DataFileContent, ManifestEntryStatus
        from pyiceberg.table import StaticTable

        table = StaticTable.from_metadata(location, self.properties)
        for snapshot in table.metadata.snapshots:
            if snapshot.snapshot_id in self.snapshots:
                continue
            self.snapshots.add(snapshot.snapshot_id)
            for manifest in snapshot.manifests(table.io):
                if manifest.added_snapshot_id != snapshot.snapshot_id:
                    continue
                for entry in manifest.fetch_manifest_entry(table.io):
                    path = entry.data_file.file_path
                    if (
                        entry.status != ManifestEntryStatus.ADDED
                        or entry.data_file.content != DataFileContent.DATA  # not a delete file
                        or path in self.files
                    ):
                        continue
                    self.files.add(path)
                    with table.io.new_input(path).open() as stream:
                        rows = pq.read_table(stream, columns=["sequence", "captured_at"])
                    for sequence, captured in zip(
                        rows["sequence"].to_pylist(), rows["captured_at"].to_pylist(), strict=True
                    ):
                        if sequence >= self.first and sequence not in self.latencies:
                            self.latencies[sequence] = checked_at - captured.timestamp()


def table_freshness(bench: "Session", repeat: int) -> None:
    """Figures `table_freshness_p50/p99` (change table) and `state_freshness_p50/p99`."""
    stack = bench.stack
    catalog_db = stack.work / f"iceberg-fresh-{repeat}.db"
    uri = f"sqlite:///{catalog_db}"
    warehouse = f"s3://{stack.bucket}/{stack.name('fresh-tables', repeat)}"
    args = ("--table", CHANGES, "--state-table", STATE, "--catalog-uri", uri)
    with steady_pipeline(bench, "fresh-tables", repeat, *args, "--warehouse", warehouse) as (
        db,
        _group,
        consumer,
    ):
        properties = s3_properties(stack)
        first = last_change(db) + 1
        watchers = [TableWatcher(catalog_db, name, properties, first) for name in (CHANGES, STATE)]

        def poll() -> None:
            # every table's pointer first: reading one table's new files must not delay seeing
            # the other's commit
            found = [(watcher, watcher.check()) for watcher in watchers]
            for watcher, new in found:
                if new is not None:
                    watcher.read(*new)

        def drained(written: int) -> bool:
            committed = consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED, 0)
            return committed >= FRESHNESS_CUSTOMERS + written  # both tables hold every change

        written = write_steadily(bench, db, f"fresh-tables-writer-{repeat}", repeat, poll, drained)
        poll()
    changes, state = (list(watcher.latencies.values()) for watcher in watchers)
    if len(changes) < written or not state:
        raise PipelineError(
            f"table freshness: {len(changes)} of {written} changes reached the change table, "
            f"{len(state)} rows the state table, within {DRAIN_TIMEOUT:.0f}s after the writes: "
            f"see {consumer.log}"
        )
    for figure, latencies, table in (("table", changes, CHANGES), ("state", state, STATE)):
        detail = {"rows": len(latencies), "changes": written, "table": table}
        bench.record(f"{figure}_freshness_p50", percentile(latencies, 0.5), **detail)
        bench.record(
            f"{figure}_freshness_p99",
            percentile(latencies, 0.99),
            max_seconds=max(latencies),
            **detail,
        )
