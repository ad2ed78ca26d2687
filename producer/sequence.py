"""Change sequence numbers: strictly increasing and never reused, without AUTOINCREMENT.

`AUTOINCREMENT` would keep that promise by writing `sqlite_sequence` on every captured change,
which made the application's single-row commits about 1.9x slower instead of about 1.5x (see
`chinook-pipeline bench`, capture tax). A plain INTEGER PRIMARY KEY is cheap, but SQLite gives
it max(rowid) + 1, which would hand out again the numbers of the highest rows once the producer
deletes them after their acknowledgement. So every number is given explicitly: one more than the
highest of
- the highest sequence in the change table, and
- the checkpoint `acked_seq`, which the producer raises in the same transaction as it deletes
  acknowledged rows, and which a snapshot sets to the highest sequence before the rows it
  replaces.
Every sequence ever given is therefore at most that high-water mark, across deletes and
restarts. The state row is read only when the change table is empty (`coalesce` stops at its
first non-NULL argument), so a capture trigger pays one more b-tree seek to the last row, which
SQLite makes anyway to choose a rowid.
"""

import sqlite3
from typing import Final

from producer.change_log import CHANGE_TABLE
from producer.state import STATE_TABLE

NEXT_SEQ: Final = (
    f"(coalesce((SELECT max(seq) FROM {CHANGE_TABLE}), "
    f"(SELECT acked_seq FROM {STATE_TABLE} WHERE id = 1), 0) + 1)"
)


def high_water(connection: sqlite3.Connection) -> int:
    """The highest sequence ever given (0 before the first change)."""
    return int(connection.execute(f"SELECT {NEXT_SEQ} - 1").fetchone()[0])
