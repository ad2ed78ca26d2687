"""`chinook-pipeline query --table`: the views of `query` over the Iceberg tables.

- `customer_changes`: a pyiceberg scan of the change table (its current snapshot), with `dt` and
  `hour` derived from `kafka_timestamp` in UTC, as the consumer dates an object's key.
- `customers`: the state table's rows (its customer columns, `sequence`, `captured_at`) when one
  is named, else derived from `customer_changes` as for objects. The consumer commits the change
  table first, so the state table may briefly be one commit behind it.

Each scan is read into memory as Arrow and registered in DuckDB.
"""

from typing import Final

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

from chinook_pipeline.tools.query import CUSTOMERS, new_connection
from chinook_shared.arrow import KAFKA_TIMESTAMP
from chinook_shared.iceberg.catalog import table_read_error

CHANGES_VIEW: Final = f"""
CREATE VIEW customer_changes AS
SELECT *, CAST({KAFKA_TIMESTAMP} AS DATE) AS dt, CAST(hour({KAFKA_TIMESTAMP}) AS INTEGER) AS hour
FROM chinook_change_table
"""
STATE_VIEW: Final = "CREATE VIEW customers AS SELECT * EXCLUDE (op) FROM chinook_state_table"


def connect_tables(changes: Table, state: Table | None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the two views over the tables.

    Raises PipelineError when a table's files cannot be read.
    """
    connection = new_connection()  # UTC, so dt and hour are UTC
    connection.register("chinook_change_table", _read(changes))
    connection.execute(CHANGES_VIEW)
    if state is None:
        connection.execute(CUSTOMERS)
    else:
        connection.register("chinook_state_table", _read(state))
        connection.execute(STATE_VIEW)
    return connection


def _read(table: Table) -> pa.Table:
    try:
        return table.scan().to_arrow()
    except OSError as error:
        raise table_read_error(".".join(table.name()), error) from None
