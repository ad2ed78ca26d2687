"""The state table's costs as the number of customers grows: a flush's time and memory, and a
reader's time after many flushes, with and without maintenance.

For each size N of `--state-sizes`, a state table of N customers is built in one commit (the rows
of a seeded database, encoded by the producer's encoder, turned into state rows by
`chinook_consumer.tables`, written BUILD_ROWS at a time as files sorted by key, as `iceberg
maintain` leaves the table), in a SQLite catalog of its own with its files in the bench's bucket.
Then, for each size C of FLUSH_CHANGES, a process of its own, as a consumer is, makes one untimed
flush (it reads what a consumer keeps between flushes: manifests, the large files' key index; its
time is in `details`), then one timed flush per run: C updates of customers drawn at random (with
replacement) from the N, committed by the consumer's own `TableWriter` with `stage_upsert`, exactly
as a table consumer's flush commits them. That process's peak RSS is `state_upsert_rss_<C>_at_<N>`.
Then, in a process of its own too, the table (N customers and those flushes' files) is compacted
as `iceberg maintain` compacts it: `state_maintenance_at_<N>` and its peak RSS,
`state_maintenance_rss_at_<N>`.

The reader's figures: on a table of `reader_shape(sizes)` customers, READER_FLUSHES flushes of
1,000 changes (fewer on a small bench), then a full read as `query` makes it (a pyiceberg scan
into Arrow), timed each run; then the state table's compaction by `iceberg maintain`, and the
same read again. Every table's files are removed afterwards.
"""

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from chinook_pipeline.bench.probes import MB
from chinook_pipeline.local.processes import high_water_rss

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from chinook_pipeline.bench.session import Session

FLUSH_CHANGES: Final = (1000, 10_000)  # changes per flush, one figure each
BUILD_ROWS: Final = 250_000  # customers encoded and written as one data file at a time
READER_CUSTOMERS: Final = 100_000  # the reader's table, or the largest size when smaller
READER_FLUSHES: Final = 1000  # at READER_CUSTOMERS; proportionally fewer (at least 10) below
READER_CHANGES: Final = 1000
GROUP: Final = "bench-state"
TOPIC: Final = "bench.customers"
READ_AFTER_FLUSHES: Final = "state_read_after_flushes"
READ_AFTER_MAINTENANCE: Final = "state_read_after_maintenance"


def figure_name(changes: int, customers: int) -> str:
    return f"state_upsert_{changes}_at_{customers}"


def rss_name(changes: int, customers: int) -> str:
    return f"state_upsert_rss_{changes}_at_{customers}"


TARGETS: Final = {  # at most, where --state-sizes measures them (issue 23)
    figure_name(1000, 1_000_000): 0.2,
    figure_name(1000, 10_000_000): 0.5,
    rss_name(1000, 10_000_000): 400.0,
}


def maintenance_name(customers: int) -> str:
    return f"state_maintenance_at_{customers}"


def maintenance_rss_name(customers: int) -> str:
    return f"state_maintenance_rss_at_{customers}"


def reader_shape(sizes: Sequence[int]) -> tuple[int, int]:
    """(customers, flushes) of the reader's figures for a bench of state `sizes`."""
    customers = min(READER_CUSTOMERS, max(sizes))
    return customers, max(10, READER_FLUSHES * customers // READER_CUSTOMERS)


def figures(sizes: Sequence[int]) -> list[tuple[str, str, str]]:
    """(name, label, unit) of every figure of this module for `--state-sizes` `sizes`."""
    per_size = [
        figure
        for customers in sizes
        for changes in FLUSH_CHANGES
        for figure in (
            (
                figure_name(changes, customers),
                f"state table upsert: one flush of {changes:,} changes, {customers:,} customers",
                "s",
            ),
            (
                rss_name(changes, customers),
                f"state table upsert peak RSS: flushes of {changes:,} changes, "
                f"{customers:,} customers",
                "MB",
            ),
        )
    ]
    maintenance = [
        figure
        for customers in sizes
        for figure in (
            (
                maintenance_name(customers),
                f"state table compaction (`iceberg maintain`) after the flushes, "
                f"{customers:,} customers",
                "s",
            ),
            (
                maintenance_rss_name(customers),
                f"state table compaction peak RSS, {customers:,} customers",
                "MB",
            ),
        )
    ]
    customers, flushes = reader_shape(sizes)
    shape = f"{flushes:,} flushes of {READER_CHANGES:,} changes, {customers:,} customers"
    return [
        *per_size,
        *maintenance,
        (READ_AFTER_FLUSHES, f"state table full read after {shape}", "s"),
        (READ_AFTER_MAINTENANCE, f"state table full read after {shape}, maintained", "s"),
    ]


def measure_sizes(bench: "Session", db: Path, sizes: Sequence[int]) -> None:
    """Every size's flush figures, then the reader's figures."""
    for customers in sizes:
        bench.say(f"state table of {customers:,} customers: upsert cost")
        bench.attempt(f"state upsert at {customers:,}", _measure_size, bench, db, customers)
    customers, flushes = reader_shape(sizes)
    bench.say(f"state table of {customers:,} customers: full reads after {flushes:,} flushes")
    bench.attempt("state reads", _measure_reads, bench, db, customers, flushes)


def _measure_size(bench: "Session", db: Path, customers: int) -> None:
    stack = bench.stack
    repeat = bench.settings.repeat
    with _built_table(bench, db, customers, "state") as (table, catalog_settings):
        name = ".".join(table.name())
        for changes in FLUSH_CHANGES:
            shape = (customers, changes, repeat)
            first, runs, peak_mb = _in_child(
                "flushes", catalog_settings, stack.s3_endpoint_url, name, db, shape
            )
            for run, seconds in enumerate(runs, start=1):
                detail = {"customers": customers, "changes": changes, "run": run}
                bench.record(figure_name(changes, customers), seconds, **detail)
            bench.record(
                rss_name(changes, customers),
                peak_mb,
                customers=customers,
                changes=changes,
                first_flush_seconds=round(first, 3),
                flushes=1 + repeat,
            )
        seconds, peak_mb = _in_child("compaction", catalog_settings, stack.s3_endpoint_url, name)
        flushes = len(FLUSH_CHANGES) * (1 + repeat)
        bench.record(maintenance_name(customers), seconds, customers=customers, flushes=flushes)
        bench.record(maintenance_rss_name(customers), peak_mb, customers=customers)


def _in_child(job: str, *args: Any) -> Any:
    """`_flushes(*args)` or `_compaction(*args)` (`job`) in a fresh interpreter, so that its
    peak RSS (VmHWM) is the job's alone, not this process's."""
    from chinook_shared.errors import PipelineError

    code = f"from {__name__} import _child_main; _child_main()"
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([job, *(str(arg) if isinstance(arg, Path) else arg for arg in args)]),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PipelineError(f"state table {job} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def _child_main() -> None:
    """The child's side of `_in_child`: the job and its arguments as JSON on stdin, the result on
    stdout."""
    job, settings, endpoint, name, *rest = json.loads(sys.stdin.read())
    if job == "flushes":
        db, shape = rest
        result = _flushes(tuple(settings), endpoint, name, Path(db), tuple(shape))
    else:
        result = _compaction(tuple(settings), endpoint, name)
    print(json.dumps(result))


def _compaction(
    catalog_settings: tuple[str, str], s3_endpoint_url: str | None, name: str
) -> tuple[float, float]:
    """The state table compacted by `iceberg maintain`'s own `compact`: (seconds, peak RSS in
    MB)."""
    from chinook_pipeline.tools.iceberg_maintain import compact

    table = _open(catalog_settings, s3_endpoint_url).load_table(name)
    started = time.perf_counter()
    list(compact(table, datetime.now(UTC), dry_run=False))
    return time.perf_counter() - started, high_water_rss(os.getpid()) / MB


def _open(catalog_settings: tuple[str, str], s3_endpoint_url: str | None) -> Any:
    from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
    from chinook_shared.s3 import S3Settings

    return open_catalog(
        CatalogSettings(*catalog_settings), S3Settings(endpoint_url=s3_endpoint_url)
    )


def _flushes(
    catalog_settings: tuple[str, str],
    s3_endpoint_url: str | None,
    name: str,
    db: Path,
    shape: tuple[int, int, int],
) -> tuple[float, list[float], float]:
    """1 + `repeat` flushes of `changes` changes to a table of `customers` (`shape`): (the first
    one's seconds, the others', the process's peak RSS in MB)."""
    from chinook_consumer.tables import TableWriter, stage_upsert

    customers, changes, repeat = shape
    writer = TableWriter(_open(catalog_settings, s3_endpoint_url).load_table(name), stage_upsert)
    rng = random.Random(customers * changes)
    offset = writer.positions(GROUP, TOPIC).get(0, 0)  # the previous process's flushes
    seconds = []
    for _ in range(1 + repeat):
        batch = _updates(db, customers, changes, offset, rng)
        started = time.perf_counter()
        writer.commit(GROUP, TOPIC, {0: (batch, offset + changes)})
        seconds.append(time.perf_counter() - started)
        offset += changes
    return seconds[0], seconds[1:], high_water_rss(os.getpid()) / MB


def _measure_reads(bench: "Session", db: Path, customers: int, flushes: int) -> None:
    from chinook_consumer.tables import TableWriter, stage_upsert
    from chinook_pipeline.tools.iceberg_maintain import compact

    with _built_table(bench, db, customers, "state-reads") as (table, _):
        writer = TableWriter(table, stage_upsert)
        rng = random.Random(-customers)
        started = time.perf_counter()
        for flush in range(flushes):
            offset = flush * READER_CHANGES
            batch = _updates(db, customers, READER_CHANGES, offset, rng)
            writer.commit(GROUP, TOPIC, {0: (batch, offset + READER_CHANGES)})
        bench.say(f"  {flushes:,} flushes in {time.perf_counter() - started:.1f}s")
        _record_reads(bench, table, READ_AFTER_FLUSHES, customers, flushes=flushes)
        started = time.perf_counter()
        for line in compact(table, datetime.now(UTC), dry_run=False):
            bench.say(f"  {line}")
        maintained = time.perf_counter() - started
        _record_reads(
            bench, table, READ_AFTER_MAINTENANCE, customers, maintenance_seconds=maintained
        )


def _record_reads(
    bench: "Session", table: "Table", figure: str, customers: int, **detail: Any
) -> None:
    """Time a full read of the state table as `query` makes it, once per run."""
    from chinook_shared.errors import PipelineError

    table.refresh()
    files = len(list(table.scan().plan_files()))
    for repeat in range(1, bench.settings.repeat + 1):
        started = time.perf_counter()
        rows = table.scan().to_arrow().num_rows  # as `query` reads it
        seconds = time.perf_counter() - started
        if rows != customers:
            raise PipelineError(f"{figure}: read {rows:,} rows, expected {customers:,}")
        bench.record(figure, seconds, customers=customers, data_files=files, run=repeat, **detail)


@contextmanager
def _built_table(
    bench: "Session", db: Path, customers: int, name: str
) -> Iterator[tuple["Table", tuple[str, str]]]:
    """A state table of the first `customers` customers of `db`, in one commit, and its catalog
    settings (uri, warehouse); its files are removed on exit."""
    from chinook_consumer.tables import commit_row_delta, data_files, open_state_table, transaction
    from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
    from chinook_shared.s3 import S3Settings

    stack = bench.stack
    prefix = stack.name(name, customers)
    settings = (
        f"sqlite:///{stack.work / f'iceberg-{name}-{customers}.db'}",
        f"s3://{stack.bucket}/{prefix}",
    )
    catalog = open_catalog(
        CatalogSettings(*settings), S3Settings(endpoint_url=stack.s3_endpoint_url)
    )
    table = open_state_table(catalog, f"bench.customers_{customers}")
    try:
        started = time.perf_counter()
        with transaction(table) as staging:
            added = [f for rows in _state_rows(db, customers) for f in data_files(staging, rows)]
            commit_row_delta(staging, added, None, {})
        bench.say(f"  built in {time.perf_counter() - started:.1f}s")
        yield table, settings
    finally:
        _remove(stack, prefix)


def _state_rows(db: Path, customers: int) -> Iterator[Any]:
    """The state rows of the first `customers` customers of `db`, BUILD_ROWS at a time, as
    snapshot events would leave them (sequence = position in the table), sorted by key."""
    import pyarrow as pa

    from chinook_consumer.tables import state_rows
    from chinook_producer.change_log import snapshot_row

    now_ms = int(time.time() * 1000)
    with closing(sqlite3.connect(db)) as connection:
        cursor = connection.execute(
            "SELECT * FROM Customer ORDER BY CustomerId LIMIT ?", (customers,)
        )
        sequence = 0
        while rows := cursor.fetchmany(BUILD_ROWS):
            changes = [snapshot_row(sequence + i + 1, row, now_ms) for i, row in enumerate(rows)]
            events = _events(changes, sequence, now_ms)
            yield state_rows(pa.Table.from_batches([events]))
            sequence += len(changes)


def _updates(db: Path, customers: int, changes: int, offset: int, rng: random.Random) -> Any:
    """One flush's record batch: `changes` updates (a new city) of random customers among the
    first `customers`, at Kafka offsets from `offset`, sequences after every earlier one."""
    from chinook_producer.change_log import snapshot_row

    now_ms = int(time.time() * 1000)
    ids = [rng.randint(1, customers) for _ in range(changes)]
    with closing(sqlite3.connect(db)) as connection:
        rows = {
            row[0]: row
            for row in connection.execute(
                f"SELECT * FROM Customer WHERE CustomerId IN ({','.join('?' * len(set(ids)))})",
                sorted(set(ids)),
            )
        }
    updates = [
        {
            **snapshot_row(customers + offset + i + 1, rows[customer_id], now_ms),
            "op": "update",
            "City": f"City {rng.randrange(10**6)}",
        }
        for i, customer_id in enumerate(ids)
    ]
    return _events(updates, offset, now_ms)


def _events(changes: Sequence[Mapping[str, Any]], offset: int, now_ms: int) -> Any:
    """The change rows, encoded as the producer encodes them, as the record batch a consumer
    builds of them at partition 0 from Kafka offset `offset`."""
    from chinook_producer.encoder import ChangeEncoder
    from chinook_shared.arrow import changes_to_batch

    encoder = ChangeEncoder()
    values = [encoder.encode(change) for change in changes]
    offsets = list(range(offset, offset + len(values)))
    return changes_to_batch(values, 0, offsets, [now_ms] * len(values))


def _remove(stack: Any, prefix: str) -> None:
    """Delete the table's files from the bucket (the embedded S3 keeps them in memory)."""
    client = stack.s3_client()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=f"{prefix}/"
    ):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
        if keys:
            client.delete_objects(Bucket=stack.bucket, Delete={"Objects": keys})
