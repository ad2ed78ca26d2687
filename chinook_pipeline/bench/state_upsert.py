"""The state table's upsert cost as the number of customers grows.

For each size N of `--state-sizes`, a state table of N customers is built in one bulk append
(the rows of a seeded database, encoded by the producer's encoder, turned into state rows by
`consumer.tables.state`), in a SQLite catalog of its own with its files in the bench's bucket.
Then each run times one flush of each size of FLUSH_CHANGES: updates of customers drawn at
random (with replacement) from the N, committed by the consumer's own `TableWriter` with
`stage_upsert`, exactly as a table consumer's flush commits them (the changed customers' rows
found by key, one position-delete file and one data file of the winners in one snapshot, the
positions). The table's files are removed
afterwards.
"""

import random
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from chinook_pipeline.bench.session import Session

FLUSH_CHANGES: Final = (1000, 10_000)  # changes per flush, one figure each
CHUNK: Final = 100_000  # customers encoded at a time while building a table
GROUP: Final = "bench-state"
TOPIC: Final = "bench.customers"


def figure_name(changes: int, customers: int) -> str:
    return f"state_upsert_{changes}_at_{customers}"


def figure_label(changes: int, customers: int) -> str:
    return f"state table upsert: one flush of {changes:,} changes, {customers:,} customers"


def measure_sizes(bench: "Session", db: Path, sizes: Sequence[int]) -> None:
    """Every size: build the table, then `repeat` flushes of each FLUSH_CHANGES size."""
    for customers in sizes:
        bench.say(f"state table of {customers:,} customers: upsert cost")
        bench.attempt(f"state upsert at {customers:,}", _measure_size, bench, db, customers)


def _measure_size(bench: "Session", db: Path, customers: int) -> None:
    from consumer.tables import TableWriter, open_state_table, stage_upsert
    from shared.iceberg.catalog import CatalogSettings, open_catalog
    from shared.s3 import S3Settings

    stack = bench.stack
    prefix = stack.name("state", customers)
    catalog = open_catalog(
        CatalogSettings(
            uri=f"sqlite:///{stack.work / f'iceberg-state-{customers}.db'}",
            warehouse=f"s3://{stack.bucket}/{prefix}",
        ),
        S3Settings(endpoint_url=stack.s3_endpoint_url),
    )
    table = open_state_table(catalog, f"bench.customers_{customers}")
    try:
        started = time.perf_counter()
        table.append(_state_rows(db, customers))
        bench.say(f"  built in {time.perf_counter() - started:.1f}s")
        writer = TableWriter(table, stage_upsert)
        rng = random.Random(customers)
        offset = 0
        for repeat in range(1, bench.options.repeat + 1):
            for changes in FLUSH_CHANGES:
                batch = _updates(db, customers, changes, offset, rng)
                started = time.perf_counter()
                writer.commit(GROUP, TOPIC, {0: (batch, offset + changes)})
                seconds = time.perf_counter() - started
                bench.record(
                    figure_name(changes, customers),
                    seconds,
                    customers=customers,
                    changes=changes,
                    run=repeat,
                )
                offset += changes
    finally:
        _remove(stack, prefix)


def _state_rows(db: Path, customers: int) -> Any:
    """The state rows of the first `customers` customers of `db`, as snapshot events would
    leave them (sequence = position in the table)."""
    import pyarrow as pa

    from consumer.tables import state_rows
    from producer.change_log import snapshot_row

    now_ms = int(time.time() * 1000)
    parts = []
    with closing(sqlite3.connect(db)) as connection:
        cursor = connection.execute(
            "SELECT * FROM Customer ORDER BY CustomerId LIMIT ?", (customers,)
        )
        sequence = 0
        while rows := cursor.fetchmany(CHUNK):
            changes = [snapshot_row(sequence + i + 1, row, now_ms) for i, row in enumerate(rows)]
            events = _events(changes, sequence, now_ms)
            parts.append(state_rows(pa.Table.from_batches([events])))
            sequence += len(changes)
    return pa.concat_tables(parts)


def _updates(db: Path, customers: int, changes: int, offset: int, rng: random.Random) -> Any:
    """One flush's record batch: `changes` updates (a new city) of random customers among the
    first `customers`, at Kafka offsets from `offset`, sequences after every earlier one."""
    from producer.change_log import snapshot_row

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
    from producer.encoder import ChangeEncoder
    from shared.arrow import changes_to_batch

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
