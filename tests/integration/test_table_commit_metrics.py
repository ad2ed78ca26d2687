"""The table consumer's commit metrics on real parts (moto S3, a SQLite catalog): one commit, its
rows and its duration per table and flush; nothing for a replay; a failure when a commit raises."""

from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from chinook_consumer.tables import committer as committer_module
from chinook_consumer.tables.committer import TableCommitter
from chinook_consumer.tables.definitions import open_change_table, open_state_table
from chinook_pipeline.tools.state_compaction import rewrite_table
from chinook_shared import names
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.iceberg.positions import carried
from chinook_shared.iceberg.snapshots import summaries
from chinook_shared.s3 import S3Settings
from tests.table_batches import batch, change, inserts

GROUP = "chinook-tables"
TOPIC = "chinook.customers"
TABLES = ("metrics.customer_changes", "metrics.customers")


@pytest.fixture()
def catalog(tmp_path: Path, bucket: str) -> Catalog:
    settings = CatalogSettings(
        uri=f"sqlite:///{tmp_path}/catalog/catalog.db", warehouse=f"s3://{bucket}/warehouse"
    )
    return open_catalog(settings, S3Settings())


def committer(catalog: Catalog) -> TableCommitter:
    changes, state = TABLES
    return TableCommitter(open_change_table(catalog, changes), open_state_table(catalog, state))


def counts() -> dict[str, dict[str, float]]:
    """{table: {metric: value}}: the process-wide counters, compared before and after."""
    metrics = {
        "commits": names.CONSUMER_TABLE_COMMITS,
        "rows": names.CONSUMER_TABLE_ROWS,
        "failures": names.CONSUMER_TABLE_COMMIT_FAILURES,
        "timed": names.CONSUMER_TABLE_COMMIT_DURATION + "_count",
    }
    return {
        table: {
            key: REGISTRY.get_sample_value(name, {"table": table}) or 0.0
            for key, name in metrics.items()
        }
        for table in TABLES
    }


def delta(before: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    after = counts()
    return {
        table: {key: after[table][key] - value for key, value in row.items()}
        for table, row in before.items()
    }


def test_each_commit_counts_once_per_table_with_its_rows_and_a_replay_counts_nothing(
    catalog: Catalog,
) -> None:
    tables = committer(catalog)
    exported = counts()
    for table in TABLES:  # exported (at 0) before any failure, so that `increase` sees the first
        labels = {"table": table}
        assert REGISTRY.get_sample_value(names.CONSUMER_TABLE_COMMIT_FAILURES, labels) is not None
    tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 10), 1: inserts(1, 0, 5, 100)})
    one = {"commits": 1.0, "rows": 15.0, "failures": 0.0, "timed": 1.0}
    assert delta(exported) == {table: one for table in TABLES}

    replayed = counts()
    tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 10)})  # every record already held: no snapshot
    assert delta(replayed) == {table: dict.fromkeys(one, 0.0) for table in TABLES}

    overlapping = counts()
    tables.commit(GROUP, TOPIC, {0: inserts(0, 5, 10, 6)})  # offsets 5..14: only 10..14 are new
    assert delta(overlapping) == {table: {**one, "rows": 5.0} for table in TABLES}
    duration = REGISTRY.get_sample_value(
        names.CONSUMER_TABLE_COMMIT_DURATION + "_sum", {"table": TABLES[0]}
    )
    assert duration is not None and duration > 0


def test_a_commit_that_raises_counts_a_failure_and_no_commit(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = open_change_table(catalog, TABLES[0])
    tables = TableCommitter(changes, open_state_table(catalog, TABLES[1]), attempts=2)
    start_transaction = committer_module.transaction

    def conflict(table: Table) -> object:
        """Where the committer starts its transaction on the change table."""
        if table is changes:
            raise CommitFailedException("someone else committed first")
        return start_transaction(table)

    monkeypatch.setattr(committer_module, "transaction", conflict)
    before = counts()
    with pytest.raises(CommitFailedException, match="2 conflicting commits"):
        tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 3)})
    assert delta(before) == {
        TABLES[0]: {"commits": 0.0, "rows": 0.0, "failures": 1.0, "timed": 0.0},
        TABLES[1]: dict.fromkeys(("commits", "rows", "failures", "timed"), 0.0),
    }, "the change table failed, so the state table was never tried"


def files(table: str) -> tuple[float | None, float | None]:
    """(data files, delete files) the consumer last exported for `table`."""
    labels = {"table": table}
    return (
        REGISTRY.get_sample_value(names.CONSUMER_TABLE_DATA_FILES, labels),
        REGISTRY.get_sample_value(names.CONSUMER_TABLE_DELETE_FILES, labels),
    )


def test_each_commit_exports_the_files_the_table_reads_and_maintenance_shows_at_assignment(
    catalog: Catalog,
) -> None:
    """The state table gains a delete file per flush that replaces rows; the gauges follow each
    commit, and the next assignment sees what `iceberg maintain`'s compaction left."""
    changes, state = TABLES
    tables = committer(catalog)
    tables.start_positions(GROUP, TOPIC, [0])
    assert files(changes) == files(state) == (0.0, 0.0), "a new table reads no file"

    tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 10)})
    assert files(changes) == files(state) == (1.0, 0.0)
    updates = [change(20 + i, 1 + i) for i in range(5)]  # customers 1-5 again, newer sequences
    tables.commit(GROUP, TOPIC, {0: batch(0, 10, updates)})
    assert files(changes) == (2.0, 0.0)
    assert files(state) == (2.0, 1.0), "the replaced rows are one delete file"

    compacted = catalog.load_table(state)
    rewrite_table(compacted, carried(summaries(compacted)))
    assert tables.start_positions(GROUP, TOPIC, [0]) == {0: 15}
    assert files(state) == (1.0, 0.0), "compaction merged the rows into one file, no delete"
