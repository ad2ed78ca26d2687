"""End-to-end check of the tables: the state table against the database, the change table for
events stored twice.

- The state table must hold exactly the database's customers, one row each, with the same values.
- The change table must hold no Kafka record twice (a (kafka_partition, kafka_offset) pair) and
  no change twice (a `sequence`: sequences are unique in the source, and the topic is written
  once per change, so a repeated sequence is a change stored twice).
Both are read through pyiceberg scans of the tables' current snapshots.
"""

from collections import Counter
from pathlib import Path

import pyarrow as pa
from pyiceberg.table import Table

from chinook_pipeline.tools.verify import (
    MAX_EXAMPLES,
    VerifyReport,
    _compare,
    _count_duplicates,
    read_customers,
)
from chinook_shared.arrow import KAFKA_OFFSET, KAFKA_PARTITION
from chinook_shared.changes import FIELD_NAMES

SEQUENCE = "sequence"
KEY = "customer_id"


def verify_tables(db_path: Path, state: Table, changes: Table) -> VerifyReport:
    """Compare the state table with the database's `Customer` rows and look for events stored
    twice in the change table; `objects` counts the change table's data files.

    Raises PipelineError when the database or its Customer table cannot be read.
    """
    database = read_customers(db_path)
    report = VerifyReport(kind="data files", source="the state table")
    _check_changes(changes, report)
    rows = state.scan(selected_fields=FIELD_NAMES).to_arrow()
    stored: Counter[int] = Counter(rows[KEY].to_pylist())
    twice = sorted(customer for customer, count in stored.items() if count > 1)
    report.duplicate_events += len(twice)
    report.duplicate_examples += [
        f"customer {customer} has {stored[customer]} state rows" for customer in twice
    ][:MAX_EXAMPLES]
    rebuilt = {
        int(row[KEY]): tuple(row[field] for field in FIELD_NAMES) for row in rows.to_pylist()
    }
    _compare(database, rebuilt, report, found_as="table")
    return report


def _check_changes(changes: Table, report: VerifyReport) -> None:
    scan = changes.scan(selected_fields=(KAFKA_PARTITION, KAFKA_OFFSET, SEQUENCE))
    report.objects = sum(1 for _ in scan.plan_files())
    rows: pa.Table = scan.to_arrow()
    report.events = rows.num_rows
    _count_duplicates(Counter(rows[SEQUENCE].to_pylist()), report)
    records: Counter[tuple[int, int]] = Counter(
        zip(rows[KAFKA_PARTITION].to_pylist(), rows[KAFKA_OFFSET].to_pylist(), strict=True)
    )
    twice = sorted(record for record, count in records.items() if count > 1)
    report.duplicate_events += len(twice)
    report.duplicate_examples += [
        f"kafka record {partition}:{offset} x{records[(partition, offset)]}"
        for partition, offset in twice[:MAX_EXAMPLES]
    ]
