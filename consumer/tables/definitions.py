"""The two tables of the tables sink, created on first use from the Protobuf descriptor and
evolved with it.

- The change table: every change event a row (`chinook_shared.arrow.change_schema()`: the event, its
  `after`/`before` rows, and the Kafka coordinates), partitioned by day of `captured_at`.
- The state table: one row per live customer (`state.state_schema()`), identified by
  `customer_id`.

A field added to the proto is added to the table (`union_by_name`, as an optional column) the
next time a consumer opens it; nothing is ever dropped, so an older consumer still writes.
Both tables turn off pyiceberg's own commit retry (`commit.retry.num-retries=0`): it would re-apply
a failed append on top of the new snapshot with the positions it computed before, so a conflict
could append a batch twice or move a position back. The committer retries instead, re-reading the
positions each time.

Other properties bound what a commit costs as commits pile up (`TABLE_DEFAULTS`, set where unset,
on existing tables too, so an operator's own values stay): snapshot retention
(`chinook_consumer.tables.retention`), manifest merging on append (one manifest per commit otherwise, all
read by every scan), and a metadata log of 10 entries, not 100, the older metadata files deleted:
pyiceberg deep-copies the whole metadata about 30 times per commit, so its size is what a commit
pays for most.
"""

from collections.abc import Callable
from typing import Final

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.table import Table, TableProperties, Transaction
from pyiceberg.transforms import DayTransform

from chinook_consumer.tables.retention import RETENTION_DEFAULTS
from chinook_consumer.tables.state import KEY, state_schema
from chinook_shared.arrow import change_schema
from chinook_shared.errors import PipelineError
from chinook_shared.iceberg.catalog import table_identifier

RETRIES_PROPERTY: Final = "commit.retry.num-retries"
DAY_PARTITION: Final = "captured_day"
_SETUP_ATTEMPTS: Final = 5
TABLE_DEFAULTS: Final = {
    **RETENTION_DEFAULTS,
    TableProperties.MANIFEST_MERGE_ENABLED: "true",
    TableProperties.METADATA_DELETE_AFTER_COMMIT_ENABLED: "true",
    TableProperties.METADATA_PREVIOUS_VERSIONS_MAX: "10",
}


def open_change_table(catalog: Catalog, name: str) -> Table:
    """The change table `name` (NAMESPACE.NAME), created or evolved to the current descriptor."""

    def partition_by_day(transaction: Transaction) -> None:
        with transaction.update_spec() as spec:
            spec.add_field("captured_at", DayTransform(), DAY_PARTITION)

    return _open(catalog, name, change_schema(), partition_by_day)


def open_state_table(catalog: Catalog, name: str) -> Table:
    """The state table `name` (NAMESPACE.NAME), created or evolved to the current descriptor."""

    def identify_by_customer(transaction: Transaction) -> None:
        with transaction.update_schema() as update:
            update.set_identifier_fields(KEY)

    return _open(catalog, name, state_schema(), identify_by_customer)


def refresh(table: Table) -> Table:
    """`table` at its current snapshot, with pyiceberg's blind commit retry still off."""
    table.refresh()
    if table.properties.get(RETRIES_PROPERTY) != "0":
        with table.transaction() as transaction:
            transaction.set_properties({RETRIES_PROPERTY: "0"})
    return table


def _open(
    catalog: Catalog, name: str, schema: pa.Schema, shape: Callable[[Transaction], None]
) -> Table:
    namespace, _ = table_identifier(name)
    catalog.create_namespace_if_not_exists(namespace)
    try:
        table = catalog.load_table(name)
    except NoSuchTableError:
        table = _create(catalog, name, schema, shape)
    for _attempt in range(_SETUP_ATTEMPTS):
        try:
            with refresh(table).transaction() as transaction:
                unset = {k: v for k, v in TABLE_DEFAULTS.items() if k not in table.properties}
                if unset:
                    transaction.set_properties(unset)
                with transaction.update_schema() as update:
                    update.union_by_name(schema)
            return table
        except CommitFailedException:
            continue
    raise PipelineError(
        f"could not evolve the schema of {name}: other writers kept changing it; retry"
    )


def _create(
    catalog: Catalog, name: str, schema: pa.Schema, shape: Callable[[Transaction], None]
) -> Table:
    try:
        transaction = catalog.create_table_transaction(
            name, schema, properties={RETRIES_PROPERTY: "0", **TABLE_DEFAULTS}
        )
        shape(transaction)
        transaction.commit_transaction()
    except TableAlreadyExistsError:
        pass  # another consumer created it first: use theirs
    return catalog.load_table(name)
