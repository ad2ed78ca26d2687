"""Change capture inside the SQLite database: a trigger-maintained change table.

SQLite has no replication log a client can read and Chinook has no timestamp column, so triggers
on `Customer` append every insert, update and delete to `chinook_cdc_change`. Installing the
triggers and copying the current rows into the same table as a snapshot happen in one
transaction, so snapshot and stream form one gap-free sequence of changes. An update that leaves
every column as it was writes no change row; a change of CustomerId is a delete of the old id
followed by an insert of the new one.
"""

import logging
import sqlite3
import time
import uuid
from typing import Final

from chinook_producer.capture_state import CaptureState, create_state_table, load_state, reset_state
from chinook_producer.change_log import CHANGE_TABLE
from chinook_producer.database import SQLITE_POLICY, immediate, is_locked
from chinook_producer.sequence import FLOOR_TRIGGER, FLOOR_TRIGGER_BODY, NEXT_SEQ, high_water
from chinook_shared.changes import COLUMN_NAMES
from chinook_shared.errors import PipelineError
from chinook_shared.retry import Failures

log = logging.getLogger(__name__)

SOURCE_TABLE: Final = "Customer"
_CUSTOMER_COLUMNS: Final = ", ".join(f'"{name}"' for name in COLUMN_NAMES)
# `julianday()` is now, as `julianday('now')` is, without parsing the word.
_NOW_MS: Final = "CAST(ROUND((julianday() - 2440587.5) * 86400000) AS INTEGER)"

# No AUTOINCREMENT: SQLite numbers the changes, see `chinook_producer.sequence`.
_CHANGE_TABLE_COLUMNS: Final = (
    "seq INTEGER PRIMARY KEY, op TEXT NOT NULL, customer_id INTEGER NOT NULL, "
    f"captured_at_ms INTEGER NOT NULL, {_CUSTOMER_COLUMNS}"
)
_COPY_COLUMNS: Final = f"seq, op, customer_id, captured_at_ms, {_CUSTOMER_COLUMNS}"
_RECORD_COLUMNS: Final = f"op, customer_id, captured_at_ms, {_CUSTOMER_COLUMNS}"


def _record(op: str, row: str) -> str:
    values = ", ".join(f'{row}."{name}"' for name in COLUMN_NAMES)
    return (
        f"INSERT INTO {CHANGE_TABLE} ({_RECORD_COLUMNS}) "
        f"VALUES ('{op}', {row}.CustomerId, {_NOW_MS}, {values});"
    )


_ANY_COLUMN_CHANGED: Final = " OR ".join(
    f'OLD."{name}" IS NOT NEW."{name}"' for name in COLUMN_NAMES
)
TRIGGERS: Final[dict[str, str]] = {
    "chinook_cdc_customer_insert": f"AFTER INSERT ON {SOURCE_TABLE} BEGIN {_record('insert', 'NEW')} END",
    "chinook_cdc_customer_update": (
        f"AFTER UPDATE ON {SOURCE_TABLE} "
        f"WHEN OLD.CustomerId IS NEW.CustomerId AND ({_ANY_COLUMN_CHANGED}) "
        f"BEGIN {_record('update', 'NEW')} END"
    ),
    # `OF CustomerId`: an UPDATE that does not set CustomerId does not even run this trigger.
    "chinook_cdc_customer_rekey": (
        f"AFTER UPDATE OF CustomerId ON {SOURCE_TABLE} WHEN OLD.CustomerId IS NOT NEW.CustomerId "
        f"BEGIN {_record('delete', 'OLD')} {_record('insert', 'NEW')} END"
    ),
    "chinook_cdc_customer_delete": f"AFTER DELETE ON {SOURCE_TABLE} BEGIN {_record('delete', 'OLD')} END",
}


# Created and checked with the capture triggers: they are one unit.
_ALL_TRIGGERS: Final = (*TRIGGERS.items(), (FLOOR_TRIGGER, FLOOR_TRIGGER_BODY))


def check_source(connection: sqlite3.Connection, path: object) -> None:
    """Raise PipelineError unless the database has a `Customer` table with the Chinook columns."""
    columns = source_columns(connection)
    if not columns:
        raise PipelineError(
            f"database {path} has no {SOURCE_TABLE} table: point --db at a Chinook database "
            f"or create one with `chinook-pipeline seed --db {path}`"
        )
    missing = missing_columns(columns)
    if missing:
        raise PipelineError(
            f"table {SOURCE_TABLE} in {path} lacks column(s) {', '.join(missing)}: "
            "it is not the Chinook Customer table"
        )


def source_columns(connection: sqlite3.Connection) -> tuple[str, ...]:
    """The columns of `Customer` in table order; empty when there is no such table."""
    return tuple(row[1] for row in connection.execute(f'PRAGMA table_info("{SOURCE_TABLE}")'))


def missing_columns(columns: tuple[str, ...]) -> list[str]:
    """The Chinook columns (which capture copies and messages carry) absent from `columns`."""
    return [name for name in COLUMN_NAMES if name not in columns]


def use_wal(connection: sqlite3.Connection, patience: float = 5.0) -> None:
    """Switch to write-ahead logging, so capture reads never block the application's writes.

    The switch needs a moment with no writer and fails at once (no busy wait) while one is
    active, so it is retried as the retry policy says for up to `patience` seconds; after that
    capture goes on in the current journal mode (correct, only less concurrent) and the next
    start tries again.
    """
    deadline = time.monotonic() + patience
    failures = Failures(SQLITE_POLICY)
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as error:
            if not is_locked(error):
                raise
            delay = failures.failed(error)
            if time.monotonic() + delay >= deadline:
                log.warning(
                    "database busy: journal mode left as it is, WAL is tried on the next start"
                )
                return
            time.sleep(delay)
            continue
        if str(mode).lower() != "wal":
            log.warning("database stays in journal mode %s (WAL not available)", mode)
        return


def install(connection: sqlite3.Connection) -> CaptureState:
    """Install capture (tables, triggers, initial snapshot) unless it is complete; return the state.

    When the state row exists but a trigger is missing (dropped, or `Customer` was recreated),
    changes may have been missed: the triggers are recreated and a fresh snapshot is taken.
    Raises PipelineError, installing nothing, when `Customer` lacks a Chinook column (triggers
    naming a missing column would make every write to the table fail).
    """
    with immediate(connection):
        check_source(connection, _file_of(connection))
        present = triggers_present(connection)
        _prepare_change_table(connection)
        create_state_table(connection)
        state = load_state(connection)
        if state is not None and present:
            if not _triggers_current(connection):
                log.info("capture triggers on %s upgraded in place", SOURCE_TABLE)
                _create_triggers(connection)
            return state
        if state is not None:
            log.warning(
                "capture triggers on %s are missing: reinstalling them and re-snapshotting",
                SOURCE_TABLE,
            )
        _create_triggers(connection)
        source_id = state.source_id if state else uuid.uuid4().hex
        return _snapshot(connection, source_id, state.topic if state else None)


def resnapshot(connection: sqlite3.Connection, state: CaptureState, topic: str) -> CaptureState:
    """Replace every pending change by a fresh snapshot, in one transaction.

    For when the topic lost what it had acknowledged (recreated, or an in-memory broker
    restarted) or capture moves to another topic: Debezium's `snapshot.mode=when_needed`.
    """
    with immediate(connection):
        return _snapshot(connection, state.source_id, topic)


def triggers_present(connection: sqlite3.Connection) -> bool:
    """Whether capture misses no change: every capture trigger is on `Customer`, and the floor
    trigger that keeps sequences unique is on the change table, unless the changes are numbered
    otherwise (an earlier version's AUTOINCREMENT table, or triggers computing each number)."""
    installed = _installed_triggers(connection)
    if not installed.keys() >= TRIGGERS.keys():
        return False
    numbered_otherwise = _autoincrement(connection) or all(
        NEXT_SEQ in installed[name] for name in TRIGGERS
    )
    return FLOOR_TRIGGER in installed or numbered_otherwise


def _triggers_current(connection: sqlite3.Connection) -> bool:
    """Whether every capture trigger, the floor trigger included, is the one this version installs."""
    installed = _installed_triggers(connection)
    return all(installed.get(name) == _trigger_sql(name, body) for name, body in _ALL_TRIGGERS)


def _installed_triggers(connection: sqlite3.Connection) -> dict[str, str]:
    """{name: sql} of the triggers on `Customer` and on the change table."""
    return dict(
        connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (?, ?)",
            (SOURCE_TABLE, CHANGE_TABLE),
        ).fetchall()
    )


def _prepare_change_table(connection: sqlite3.Connection) -> None:
    """Create the change table, or rebuild one made with AUTOINCREMENT by an earlier version.

    The rebuild keeps every row and sequence (the high-water mark of `chinook_producer.sequence` covers
    every number that table gave), and drops the capture triggers, which name the table: the
    caller reinstalls them in the same transaction, so no change slips between.
    """
    if _table_sql(connection) is None:
        connection.execute(f"CREATE TABLE {CHANGE_TABLE} ({_CHANGE_TABLE_COLUMNS})")
        return
    if not _autoincrement(connection):
        return
    log.info("rebuilding %s without AUTOINCREMENT (cheaper capture)", CHANGE_TABLE)
    for name in TRIGGERS:
        connection.execute(f"DROP TRIGGER IF EXISTS {name}")
    legacy = f"{CHANGE_TABLE}_legacy"
    connection.execute(f"ALTER TABLE {CHANGE_TABLE} RENAME TO {legacy}")
    connection.execute(f"CREATE TABLE {CHANGE_TABLE} ({_CHANGE_TABLE_COLUMNS})")
    connection.execute(
        f"INSERT INTO {CHANGE_TABLE} ({_COPY_COLUMNS}) SELECT {_COPY_COLUMNS} FROM {legacy}"
    )
    connection.execute(f"DROP TABLE {legacy}")


def _autoincrement(connection: sqlite3.Connection) -> bool:
    """Whether the change table numbers its rows with AUTOINCREMENT (an earlier version's)."""
    sql = _table_sql(connection)
    return sql is not None and "AUTOINCREMENT" in sql.upper()


def _table_sql(connection: sqlite3.Connection) -> str | None:
    row = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (CHANGE_TABLE,)
    ).fetchone()
    return None if row is None else str(row[0])


def _trigger_sql(name: str, body: str) -> str:
    return f"CREATE TRIGGER {name} {body}"


def _file_of(connection: sqlite3.Connection) -> str:
    return str(connection.execute("PRAGMA database_list").fetchone()[2])


def _create_triggers(connection: sqlite3.Connection) -> None:
    for name, body in _ALL_TRIGGERS:
        connection.execute(f"DROP TRIGGER IF EXISTS {name}")
        connection.execute(_trigger_sql(name, body))


def _snapshot(connection: sqlite3.Connection, source_id: str, topic: str | None) -> CaptureState:
    """Replace the change rows by one snapshot row per customer, and the state by one whose
    checkpoint is the last sequence before them (which keeps the replaced numbers from coming
    back: the floor trigger numbers the first snapshot row one past it).

    The rows take their numbers from SQLite (max(rowid) + 1, the fast append path: a
    row_number() window made the copy about 2.5x slower).
    """
    before = high_water(connection)
    connection.execute(f"DELETE FROM {CHANGE_TABLE}")
    state = reset_state(connection, source_id, before, topic)
    connection.execute(
        f"INSERT INTO {CHANGE_TABLE} ({_RECORD_COLUMNS}) "
        f"SELECT 'snapshot', CustomerId, {_NOW_MS}, {_CUSTOMER_COLUMNS} FROM {SOURCE_TABLE} "
        "ORDER BY CustomerId"
    )
    return state
