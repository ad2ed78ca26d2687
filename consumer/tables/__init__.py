"""The tables sink: change events into Iceberg, a change table (every event a row) and a state
table (one row per live customer), committed exactly once with the Kafka positions in each
snapshot's summary.

`destination` answers the consumer's two calls (where a partition resumes, make a batch durable),
`committer` commits, `definitions` opens, creates and evolves the tables, `state`, `live_rows` and
`position_deletes` upsert the state table, `retention` expires old snapshots. The names below are
what the tools and the bench use.
"""

from chinook_consumer.tables.committer import TableWriter
from chinook_consumer.tables.definitions import open_change_table, open_state_table
from chinook_consumer.tables.position_deletes import (
    commit_rewrite,
    commit_row_delta,
    data_files,
    transaction,
)
from chinook_consumer.tables.state import stage_upsert, state_rows

__all__ = [
    "TableWriter",
    "commit_rewrite",
    "commit_row_delta",
    "data_files",
    "open_change_table",
    "open_state_table",
    "stage_upsert",
    "state_rows",
    "transaction",
]
