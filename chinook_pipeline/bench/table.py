"""The table consumer in the bench: topic -> the Iceberg change table, committed, timed like the
other consumers on the same topic in the same run (so beside the same raw consume limit).

Only the change table: the state table's upsert cost depends on the number of customers, so it
is measured apart at several sizes (`state_upsert`), and would slow every run. Each run has its
own SQLite catalog in the work directory, with the table's files under the run's prefix of the
bucket.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

from chinook_pipeline.bench.probes import MB
from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.stack import Stack
from chinook_pipeline.bench.throughput import consume
from chinook_shared.errors import PipelineError

CHANGE_TABLE = "bench.customer_changes"


def table_consumer(bench: Session, topic: str, total: int, repeat: int) -> None:
    """Figures `consumer_table` (records/s into the change table, offsets committed), its peak
    RSS (`consumer_table_run_rss`) and `table_files_per_commit`."""
    group = bench.stack.name("sink-table", repeat)
    consume(bench, "consumer_table", topic, total, group, 1, *table_options(bench.stack, group))
    peak = bench.results.details["consumer_table"][-1]["peak_rss_bytes"]
    bench.record("consumer_table_run_rss", peak / MB, records=total)
    catalog = catalog_db(bench.stack, group)
    ratio, counts = files_per_commit(catalog, CHANGE_TABLE, bench.stack)
    bench.record("table_files_per_commit", ratio, **counts)


def table_options(stack: Stack, group: str) -> list[str]:
    """The consumer options of a run writing the change table: a SQLite catalog of the group's
    own in the work directory, the table's files under the group's prefix of the bucket."""
    catalog = catalog_db(stack, group)
    return [
        *("--table", CHANGE_TABLE, "--catalog-uri", f"sqlite:///{catalog}"),
        *("--warehouse", f"s3://{stack.bucket}/{group}"),
    ]


def catalog_db(stack: Stack, group: str) -> Path:
    """The SQLite catalog of the run of `group`."""
    return stack.work / f"iceberg-{group}.db"


def files_per_commit(catalog: Path, table: str, stack: Stack) -> tuple[float, dict[str, int]]:
    """Data files in `table` over its commits: (the ratio, its counts). Expiry drops snapshots,
    not their count: each commit took the next sequence number (format 2), and a change table
    only ever adds files."""
    from pyiceberg.table import StaticTable

    location = metadata_location(catalog, table)
    if location is None:
        raise PipelineError(f"table {table} is not in the catalog {catalog}")
    metadata = StaticTable.from_metadata(location, s3_properties(stack)).metadata
    snapshot = metadata.current_snapshot()
    files = int(snapshot.summary["total-data-files"]) if snapshot and snapshot.summary else 0
    commits = metadata.last_sequence_number
    if not commits:
        raise PipelineError(f"table {table} has no commit")
    return files / commits, {"data_files": files, "commits": commits}


def metadata_location(catalog: Path, table: str) -> str | None:
    """`table`'s current metadata file in a SQLite catalog (pyiceberg's or Iceberg's JDBC
    catalog: the same `iceberg_tables`); None while the catalog or the table does not exist."""
    if not catalog.exists():
        return None
    namespace, _, name = table.rpartition(".")
    try:
        with closing(sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)) as connection:
            row = connection.execute(
                "SELECT metadata_location FROM iceberg_tables "
                "WHERE table_namespace = ? AND table_name = ?",
                (namespace, name),
            ).fetchone()
    except sqlite3.OperationalError:  # the catalog's tables are not created yet
        return None
    return row[0] if row else None


def s3_properties(stack: Stack) -> dict[str, str]:
    """pyiceberg's S3 properties for the bench's S3 endpoint."""
    from chinook_shared.iceberg.catalog import s3_properties as properties
    from chinook_shared.s3 import S3Settings

    return properties(S3Settings(endpoint_url=stack.s3_endpoint_url))
