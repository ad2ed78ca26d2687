"""Change sequence numbers: strictly increasing and never reused, without AUTOINCREMENT.

`AUTOINCREMENT` keeps that promise by writing `sqlite_sequence` on every captured change, which
made the application's single-row commits about 1.9x slower; computing each number in the
capture trigger (one more than the highest sequence and the checkpoint) cost a cursor and two
b-tree seeks per change. So SQLite numbers the changes: a plain INTEGER PRIMARY KEY that the
triggers leave out gets max(rowid) + 1, found on the b-tree seek every insert makes anyway.
That number is one more than every number ever given except when the table is empty (SQLite
then starts again at 1), so `FLOOR_TRIGGER` renumbers a change that got 1 to `acked_seq` + 1.

Why every change gets H + 1, where H, the high-water mark, is max(`acked_seq`, highest seq in
the change table) and every number ever given is at most H. Invariant: every row in the table
is above `acked_seq`, so H is the highest row when the table holds one and `acked_seq` when it
is empty. It holds because:
- a change gets H + 1: from a non-empty table SQLite gives highest row + 1 = H + 1 (at least 2,
  so the floor trigger stays out); from an empty one it gives 1, which the floor trigger, in
  the same statement before any other change, renumbers to `acked_seq` + 1 = H + 1;
- the producer deletes acknowledged rows (seq <= the new `acked_seq`) in the same transaction
  as it raises `acked_seq` to a sequence it read from the table, so H does not move;
- a snapshot sets `acked_seq` to H, empties the table, then lets the rows number from there;
- every earlier version (AUTOINCREMENT, then numbers computed by the trigger) kept the same
  invariant, and installing this version's triggers over theirs happens in one transaction.
All of it is in the database file, so it holds across restarts, and across deletes because
deleting acknowledged rows is the only way rows leave the table besides a snapshot.
"""

import sqlite3
from typing import Final

from chinook_producer.capture_state import STATE_TABLE
from chinook_producer.change_log import CHANGE_TABLE

# max(highest sequence, acked_seq) + 1; the state row is read only when the table is empty
# (`coalesce` stops at its first non-NULL argument).
NEXT_SEQ: Final = (
    f"(coalesce((SELECT max(seq) FROM {CHANGE_TABLE}), "
    f"(SELECT acked_seq FROM {STATE_TABLE} WHERE id = 1), 0) + 1)"
)

FLOOR_TRIGGER: Final = "chinook_cdc_change_floor"
FLOOR_TRIGGER_BODY: Final = (
    f"AFTER INSERT ON {CHANGE_TABLE} WHEN NEW.seq = 1 BEGIN "
    f"UPDATE {CHANGE_TABLE} SET seq = 1 + "
    f"coalesce((SELECT acked_seq FROM {STATE_TABLE} WHERE id = 1), 0) WHERE seq = 1; END"
)


def high_water(connection: sqlite3.Connection) -> int:
    """The highest sequence ever given (0 before the first change)."""
    return int(connection.execute(f"SELECT {NEXT_SEQ} - 1").fetchone()[0])
