"""The table consumer in the bench: topic -> the Iceberg change table, committed, timed like the
other consumers on the same topic in the same run (so beside the same raw consume limit).

Only the change table: the state table's upsert cost depends on the number of customers, so it
is measured apart at several sizes (`state_upsert`), and would slow every run. Each run has its
own SQLite catalog in the work directory, with the table's files under the run's prefix of the
bucket.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chinook_pipeline.bench.figures import Bench

CHANGE_TABLE = "bench.customer_changes"


def table_consumer(bench: "Bench", topic: str, total: int, repeat: int) -> None:
    """Figure `consumer_table` (records/s into the change table, offsets committed)."""
    group = bench.stack.name("sink-table", repeat)
    bench.consume("consumer_table", topic, total, group, 1, *table_options(bench, group))


def table_options(bench: "Bench", group: str) -> list[str]:
    """The consumer options of a run writing the change table: a SQLite catalog of the group's
    own in the work directory, the table's files under the group's prefix of the bucket."""
    stack = bench.stack
    catalog = stack.work / f"iceberg-{group}.db"
    return [
        *("--table", CHANGE_TABLE, "--catalog-uri", f"sqlite:///{catalog}"),
        *("--warehouse", f"s3://{stack.bucket}/{group}"),
    ]
