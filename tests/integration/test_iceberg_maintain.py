"""`iceberg maintain` on real parts: orphans removed, snapshots expired, closed days compacted,
and nothing committed or needed for recovery is lost."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table, Transaction

from chinook_consumer.tables.committer import TableCommitter, TableWriter
from chinook_consumer.tables.definitions import open_change_table, open_state_table
from chinook_consumer.tables.state import latest_events, state_rows
from chinook_pipeline.tools.iceberg_maintain import maintain
from chinook_shared.changes import Operation
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.iceberg.positions import recover
from chinook_shared.iceberg.snapshots import summaries
from chinook_shared.s3 import S3Settings
from chinook_shared.units import parse_duration
from tests.conftest import Cli
from tests.table_batches import BASE_MS, DAY_MS, batch, change, inserts

GROUP, TOPIC = "chinook-tables", "chinook.customers"
CHANGES, STATE = "chinook.customer_changes", "chinook.customers"


@pytest.fixture()
def catalog_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/catalog.db"


@pytest.fixture()
def catalog(catalog_uri: str, bucket: str) -> Catalog:
    return open_catalog(CatalogSettings(catalog_uri, f"s3://{bucket}/warehouse"), S3Settings())


@pytest.fixture()
def committer(catalog: Catalog) -> TableCommitter:
    return TableCommitter(open_change_table(catalog, CHANGES), open_state_table(catalog, STATE))


def append_state_rows(
    transaction: Transaction, _table: Table, events: pa.Table, properties: dict[str, str]
) -> None:
    transaction.append(state_rows(latest_events(events)), snapshot_properties=properties)


def keys(s3_client: object, bucket: str, prefix: str) -> set[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def rows_of(table: Table) -> list[tuple[int, int]]:
    table.refresh()
    rows = table.scan(selected_fields=("kafka_partition", "kafka_offset")).to_arrow()
    return sorted(
        zip(rows["kafka_partition"].to_pylist(), rows["kafka_offset"].to_pylist(), strict=True)
    )


def data_files_by_day(table: Table) -> dict[object, int]:
    table.refresh()
    counts: dict[object, int] = {}
    for partition in table.inspect.files()["partition"].to_pylist():
        counts[partition["captured_day"]] = counts.get(partition["captured_day"], 0) + 1
    return counts


def test_durations_parse() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("12h") == parse_duration("0.5d") == timedelta(hours=12)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_orphans_and_old_snapshots_go_and_committed_data_and_positions_stay(
    catalog: Catalog, committer: TableCommitter, s3_client: object, bucket: str
) -> None:
    for first in range(0, 50, 10):
        committer.commit(GROUP, TOPIC, {0: inserts(0, first, 10, first + 1)})
    changes = catalog.load_table(CHANGES)
    prefix = changes.location().removeprefix(f"s3://{bucket}/")
    orphan = f"{prefix}/data/captured_day=2023-11-14/00000-0-never-committed.parquet"
    s3_client.put_object(Bucket=bucket, Key=orphan, Body=b"PAR1 left by a crashed attempt")  # type: ignore[attr-defined]
    before = rows_of(changes)

    lines = list(maintain(changes, s3_client, timedelta(hours=1), dry_run=False))
    assert lines == [
        f"{CHANGES}: compacted day 2023-11-14: 5 data files (50 rows)",
        f"{CHANGES}: removed 0 orphan files",  # the safety window protects young files
    ]
    assert orphan in keys(s3_client, bucket, prefix)

    later = datetime.now(UTC) + timedelta(hours=2)
    lines = list(maintain(changes, s3_client, timedelta(hours=1), dry_run=False, now=later))
    assert lines[0].startswith(f"{CHANGES}: expired ")
    assert lines[1].startswith(f"{CHANGES}: removed ")  # the orphan and the compacted files
    assert orphan not in keys(s3_client, bucket, prefix)
    assert rows_of(changes) == before
    assert len(changes.snapshots()) == 1
    assert recover(summaries(changes), GROUP, TOPIC) == {0: 50}
    assert committer.start_positions(GROUP, TOPIC, [0]) == {0: 50}
    committer.commit(GROUP, TOPIC, {0: inserts(0, 50, 5, 51)})
    assert len(rows_of(changes)) == 55


def test_compaction_rewrites_closed_days_only_and_keeps_every_row(
    catalog: Catalog, committer: TableCommitter, s3_client: object
) -> None:
    day_one, day_two = BASE_MS, BASE_MS + DAY_MS  # 2023-11-14 and 2023-11-15
    for flush in range(4):
        values = [
            change(10 * flush + i, i, Operation.OPERATION_INSERT, captured_ms=day)
            for i, day in enumerate([day_one, day_one, day_two])
        ]
        committer.commit(GROUP, TOPIC, {0: batch(0, 3 * flush, values)})
    changes = catalog.load_table(CHANGES)
    before, positions = rows_of(changes), committer.start_positions(GROUP, TOPIC, [0])
    files = data_files_by_day(changes)
    assert list(files.values()) == [4, 4]

    noon_of_day_two = datetime.fromtimestamp(day_two / 1000, UTC).replace(hour=12)
    dry = list(maintain(changes, s3_client, timedelta(hours=1), dry_run=True, now=noon_of_day_two))
    assert dry[0] == f"{CHANGES}: would compact day 2023-11-14: 4 data files"
    assert data_files_by_day(changes) == files

    lines = list(
        maintain(changes, s3_client, timedelta(hours=1), dry_run=False, now=noon_of_day_two)
    )
    assert lines[0] == f"{CHANGES}: compacted day 2023-11-14: 4 data files (8 rows)"
    assert sorted(data_files_by_day(changes).values()) == [1, 4]  # the open day is left alone
    assert rows_of(changes) == before
    assert committer.start_positions(GROUP, TOPIC, [0]) == positions


def test_an_unpartitioned_table_is_compacted_whole(
    catalog: Catalog, committer: TableCommitter, s3_client: object
) -> None:
    # A state table of several files, as consumers that appended each flush as a file left it.
    changes = TableCommitter(catalog.load_table(CHANGES))
    appending = TableWriter(catalog.load_table(STATE), append_state_rows)
    for first in range(0, 30, 10):
        changes.commit(GROUP, TOPIC, {0: inserts(0, first, 10, first + 1)})
        appending.commit(GROUP, TOPIC, {0: inserts(0, first, 10, first + 1)})
    state = catalog.load_table(STATE)
    lines = list(maintain(state, s3_client, timedelta(hours=1), dry_run=False))
    assert lines[0] == f"{STATE}: compacted the table: 3 data files (30 rows)"
    assert len(state.inspect.files()) == 1
    assert committer.start_positions(GROUP, TOPIC, [0]) == {0: 30}


def test_the_command_line_maintains_and_says_what_is_wrong(
    cli: Cli, committer: TableCommitter, catalog_uri: str, bucket: str
) -> None:
    committer.commit(GROUP, TOPIC, {0: inserts(0, 0, 3)})
    base = ["iceberg", "maintain", "--catalog-uri", catalog_uri]
    result = cli.run(*base, "--table", CHANGES, "--table", STATE, "--dry-run")
    assert result.stdout.splitlines() == [
        f"{CHANGES}: would remove 0 orphan files",
        f"{STATE}: would remove 0 orphan files",
    ]
    bad = cli.run(*base, "--table", "customers", check=False)
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1] == (
        "Error: bad table name 'customers': use NAMESPACE.NAME, e.g. chinook.customer_changes"
    )
    missing = cli.run(*base, "--table", "chinook.nothing", check=False)
    assert "table chinook.nothing not found" in missing.stderr


def test_an_empty_table_needs_nothing(catalog: Catalog, s3_client: object) -> None:
    changes = open_change_table(catalog, CHANGES)
    assert list(maintain(changes, s3_client, timedelta(0), dry_run=False)) == [
        f"{CHANGES}: removed 0 orphan files"
    ]
    assert pa.Table.from_batches([], schema=changes.schema().as_arrow()).num_rows == 0
