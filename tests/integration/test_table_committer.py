"""The table committer on real parts (moto S3, a SQLite catalog): tables, positions, exactly once."""

import logging
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table
from pyiceberg.types import StringType

from chinook_consumer.tables import committer as committer_module
from chinook_consumer.tables.committer import TableCommitter
from chinook_consumer.tables.definitions import (
    DAY_PARTITION,
    RETRIES_PROPERTY,
    TABLE_DEFAULTS,
    open_change_table,
    open_state_table,
)
from chinook_consumer.tables.retention import BATCH, MAX_AGE, MIN_KEPT
from chinook_shared.arrow import change_schema
from chinook_shared.changes import Operation
from chinook_shared.errors import PipelineError
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.iceberg.positions import position_key
from chinook_shared.s3 import S3Settings
from tests.table_batches import batch, change, inserts

GROUP = "chinook-tables"
TOPIC = "chinook.customers"
CHANGES = "chinook.customer_changes"
STATE = "chinook.customers"


@pytest.fixture()
def catalog_settings(tmp_path: Path, bucket: str) -> CatalogSettings:
    return CatalogSettings(
        uri=f"sqlite:///{tmp_path}/catalog/catalog.db", warehouse=f"s3://{bucket}/warehouse"
    )


@pytest.fixture()
def catalog(catalog_settings: CatalogSettings) -> Catalog:
    return open_catalog(catalog_settings, S3Settings())


def committer(catalog: Catalog, state: bool = True) -> TableCommitter:
    return TableCommitter(
        open_change_table(catalog, CHANGES), open_state_table(catalog, STATE) if state else None
    )


def offsets(table: Table) -> list[tuple[int, int]]:
    rows = table.scan(selected_fields=("kafka_partition", "kafka_offset")).to_arrow()
    return sorted(
        zip(rows["kafka_partition"].to_pylist(), rows["kafka_offset"].to_pylist(), strict=True)
    )


def state_of(table: Table) -> dict[int, tuple[int, str | None]]:
    table.refresh()
    rows = table.scan(selected_fields=("customer_id", "sequence", "city")).to_arrow().to_pylist()
    assert len(rows) == len({row["customer_id"] for row in rows}), "a customer has two rows"
    return {row["customer_id"]: (row["sequence"], row["city"]) for row in rows}


def test_tables_are_created_on_first_use_and_loaded_after(catalog: Catalog) -> None:
    changes = open_change_table(catalog, CHANGES)
    state = open_state_table(catalog, STATE)
    assert open_change_table(catalog, CHANGES).metadata.table_uuid == changes.metadata.table_uuid
    assert [field.name for field in changes.spec().fields] == [DAY_PARTITION]
    assert changes.schema().find_field("after.city").optional
    assert [state.schema().find_column_name(i) for i in state.schema().identifier_field_ids] == [
        "customer_id"
    ]
    assert changes.properties[RETRIES_PROPERTY] == state.properties[RETRIES_PROPERTY] == "0"
    with pytest.raises(PipelineError, match=r"use NAMESPACE\.NAME"):
        open_change_table(catalog, "customer_changes")


def test_a_commit_records_each_partitions_next_offset(catalog: Catalog) -> None:
    tables = committer(catalog)
    durable = tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 10), 1: inserts(1, 0, 5, 100)})
    assert durable == {0: 10, 1: 5}
    changes = catalog.load_table(CHANGES)
    assert len(offsets(changes)) == 15
    summary = changes.current_snapshot().summary.additional_properties
    assert summary[position_key(GROUP, TOPIC, 0)] == "10"
    assert summary[position_key(GROUP, TOPIC, 1)] == "5"
    assert tables.start_positions(GROUP, TOPIC, [0, 1, 2]) == {0: 10, 1: 5, 2: 0}


def test_positions_are_recovered_after_interleaved_commits(
    catalog: Catalog, catalog_settings: CatalogSettings
) -> None:
    first, second = committer(catalog), committer(open_catalog(catalog_settings, S3Settings()))
    first.commit(GROUP, TOPIC, {0: inserts(0, 0, 3)})
    second.commit(GROUP, TOPIC, {1: inserts(1, 0, 4, 100)})
    first.commit(GROUP, TOPIC, {0: inserts(0, 3, 3, 10)})
    second.commit("another-group", TOPIC, {1: inserts(1, 0, 1, 200)})
    # A snapshot written by someone else, without positions, on top of them all.
    catalog.load_table(CHANGES).append(pa.Table.from_batches([inserts(5, 0, 1, 300)[0]]))
    fresh = committer(open_catalog(catalog_settings, S3Settings()))
    assert fresh.start_positions(GROUP, TOPIC, [0, 1, 5]) == {0: 6, 1: 4, 5: 0}
    assert fresh.start_positions("another-group", TOPIC, [1]) == {1: 1}


def test_a_replayed_batch_adds_nothing_and_an_overlapping_one_only_the_new_records(
    catalog: Catalog,
) -> None:
    tables = committer(catalog)
    tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 10)})
    changes = catalog.load_table(CHANGES)
    snapshots = len(changes.snapshots())
    assert tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 10)}) == {0: 10}
    changes.refresh()
    assert len(changes.snapshots()) == snapshots
    assert tables.commit(GROUP, TOPIC, {0: inserts(0, 5, 10, 6)}) == {0: 15}
    assert offsets(catalog.load_table(CHANGES)) == [(0, offset) for offset in range(15)]


@pytest.mark.parametrize("same_partition", [False, True], ids=["two-partitions", "zombie"])
def test_concurrent_committers_leave_each_event_once(
    catalog: Catalog,
    catalog_settings: CatalogSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    same_partition: bool,
) -> None:
    """B reads the positions, then A commits before B's commit lands: B's commit conflicts, and
    its retry re-reads the positions (A's records are skipped when A covered them)."""
    a = committer(catalog)
    other = open_catalog(catalog_settings, S3Settings())
    b_changes, b_state = open_change_table(other, CHANGES), open_state_table(other, STATE)
    b = TableCommitter(b_changes, b_state)
    a_batch = {0: inserts(0, 0, 20)}
    b_batch = {0: inserts(0, 0, 30)} if same_partition else {1: inserts(1, 0, 30, 100)}
    start_transaction = committer_module.transaction
    a_committed: list[bool] = []

    def a_commits_first(table: Table) -> object:
        """Where B's committer starts its transaction (A's passes through)."""
        if table is b_changes and not a_committed:
            a.commit(GROUP, TOPIC, a_batch)
            a_committed.append(True)
        return start_transaction(table)

    monkeypatch.setattr(committer_module, "transaction", a_commits_first)
    caplog.set_level(logging.INFO, "chinook_consumer.tables.committer")
    durable = b.commit(GROUP, TOPIC, b_batch)
    assert "conflicted" in caplog.text, "the forced conflict did not happen"
    expected = (
        {(0, o) for o in range(30)}
        if same_partition
        else {
            *((0, o) for o in range(20)),
            *((1, o) for o in range(30)),
        }
    )
    changes = catalog.load_table(CHANGES)
    assert offsets(changes) == sorted(expected)
    assert durable == ({0: 30} if same_partition else {1: 30})
    assert a.start_positions(GROUP, TOPIC, [0, 1]) == (
        {0: 30, 1: 0} if same_partition else {0: 20, 1: 30}
    )
    customers = state_of(catalog.load_table(STATE))
    assert len(customers) == (30 if same_partition else 50)


def test_the_state_table_keeps_the_latest_event_of_each_live_customer(catalog: Catalog) -> None:
    tables = committer(catalog)
    tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 4)})  # customers 1-4, sequences 1-4
    flush = [
        change(10, 1, city="Bergen"),
        change(11, 1, city="Tromsø"),  # two changes of one customer in one flush: the later wins
        change(12, 2, Operation.OPERATION_DELETE),
        change(13, 5, Operation.OPERATION_INSERT, city="Oslo"),
        change(14, 6, Operation.OPERATION_INSERT),
        change(15, 6, Operation.OPERATION_DELETE),  # inserted and deleted within the flush
    ]
    tables.commit(GROUP, TOPIC, {0: batch(0, 4, flush)})
    state = catalog.load_table(STATE)
    assert state_of(state) == {1: (11, "Tromsø"), 3: (3, "Oslo"), 4: (4, "Oslo"), 5: (13, "Oslo")}
    # An older event arriving after a newer one (another partition, a later offset) is ignored,
    # and so is a replay of the whole flush.
    tables.commit(
        GROUP, TOPIC, {1: batch(1, 0, [change(10, 1, city="Bergen"), change(9, 5, city="Old")])}
    )
    tables.commit(GROUP, TOPIC, {0: batch(0, 4, flush)})
    assert state_of(state) == {1: (11, "Tromsø"), 3: (3, "Oslo"), 4: (4, "Oslo"), 5: (13, "Oslo")}
    tables.commit(GROUP, TOPIC, {1: batch(1, 2, [change(20, 4, Operation.OPERATION_DELETE)])})
    assert set(state_of(state)) == {1, 3, 5}


def test_a_crash_between_the_two_commits_is_repaired_by_the_replay(catalog: Catalog) -> None:
    changes_only = committer(catalog, state=False)
    changes_only.commit(GROUP, TOPIC, {0: inserts(0, 0, 5)})  # the state commit never happened
    tables = committer(catalog)
    assert tables.start_positions(GROUP, TOPIC, [0]) == {0: 0}
    assert tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 5)}) == {0: 5}
    assert len(offsets(catalog.load_table(CHANGES))) == 5
    assert set(state_of(catalog.load_table(STATE))) == {1, 2, 3, 4, 5}


def test_a_field_added_to_the_proto_becomes_a_column(catalog: Catalog) -> None:
    older = pa.schema([field for field in change_schema() if field.name != "before"])
    catalog.create_namespace_if_not_exists("chinook")
    catalog.create_table(CHANGES, schema=older)
    changes = open_change_table(catalog, CHANGES)  # the current descriptor has `before`
    assert changes.schema().find_field("before.city").optional
    # A newer consumer added a column this one does not know: this one still commits.
    with changes.update_schema() as update:
        update.add_column("loyalty_tier", StringType())
    tables = TableCommitter(changes)
    tables.commit(GROUP, TOPIC, {0: batch(0, 0, [change(1, 1, Operation.OPERATION_DELETE)])})
    rows = catalog.load_table(CHANGES).scan().to_arrow().to_pylist()
    assert rows[0]["before"]["city"] == "Oslo" and rows[0]["loyalty_tier"] is None


def test_a_state_table_with_a_column_this_consumer_does_not_know_is_still_upserted(
    catalog: Catalog,
) -> None:
    tables = committer(catalog)
    state = catalog.load_table(STATE)
    with state.update_schema() as update:
        update.add_column("loyalty_tier", StringType())
    tables.commit(GROUP, TOPIC, {0: inserts(0, 0, 3)})
    tables.commit(GROUP, TOPIC, {0: batch(0, 3, [change(10, 2, city="Bergen")])})
    assert state_of(state) == {1: (1, "Oslo"), 2: (10, "Bergen"), 3: (3, "Oslo")}
    assert state.scan().to_arrow()["loyalty_tier"].null_count == 3


def test_commits_expire_old_snapshots_keeping_the_newest_and_the_positions(
    catalog: Catalog,
) -> None:
    tables = committer(catalog)
    for name in (CHANGES, STATE):
        with catalog.load_table(name).transaction() as transaction:
            transaction.set_properties({MAX_AGE: "0", MIN_KEPT: "3"})
    for flush in range(30):
        tables.commit(GROUP, TOPIC, {flush % 2: inserts(flush % 2, flush // 2, 1, flush + 1)})
    for name in (CHANGES, STATE):
        assert 3 <= len(catalog.load_table(name).snapshots()) < 3 + BATCH
    assert tables.start_positions(GROUP, TOPIC, [0, 1]) == {0: 15, 1: 15}
    assert len(offsets(catalog.load_table(CHANGES))) == 30
    assert set(state_of(catalog.load_table(STATE))) == set(range(1, 31))


def test_existing_tables_get_the_cost_bounding_properties_and_keep_their_own(
    catalog: Catalog,
) -> None:
    catalog.create_namespace_if_not_exists("chinook")
    catalog.create_table(CHANGES, schema=change_schema(), properties={MAX_AGE: "3600000"})
    changes = open_change_table(catalog, CHANGES)
    assert changes.properties[MAX_AGE] == "3600000"
    assert {k: v for k, v in changes.properties.items() if k != MAX_AGE} == {
        RETRIES_PROPERTY: "0",
        **{k: v for k, v in TABLE_DEFAULTS.items() if k != MAX_AGE},
    }
