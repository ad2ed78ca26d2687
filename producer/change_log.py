"""Reading the change table the capture triggers fill, in sequence order."""

import sqlite3
from typing import Any, Final

from shared.changes import COLUMN_NAMES

CHANGE_TABLE: Final = "chinook_cdc_change"
# The row layout `producer.encoder` expects: seq, op, customer_id, captured_at_ms, 13 columns.
CHANGE_COLUMNS: Final = ", ".join(
    ["seq", "op", "customer_id", "captured_at_ms", *(f'"{name}"' for name in COLUMN_NAMES)]
)
_READ: Final = f"SELECT {CHANGE_COLUMNS} FROM {CHANGE_TABLE} WHERE seq > ? ORDER BY seq LIMIT ?"

Row = tuple[Any, ...]


def read_changes(connection: sqlite3.Connection, after_seq: int, limit: int) -> list[Row]:
    """Up to `limit` change rows with seq > `after_seq`, oldest first.

    Text that is not valid UTF-8 (SQLite stores whatever it is given) comes back as bytes for the
    encoder to reject, instead of failing the whole batch.
    """
    try:
        return connection.execute(_READ, (after_seq, limit)).fetchall()
    except sqlite3.OperationalError as error:
        if "decode" not in str(error):
            raise
    connection.text_factory = _text_or_bytes
    try:
        return connection.execute(_READ, (after_seq, limit)).fetchall()
    finally:
        connection.text_factory = str


def data_version(connection: sqlite3.Connection) -> int:
    """Changes whenever another connection commits to the database (cheap to poll)."""
    return int(connection.execute("PRAGMA data_version").fetchone()[0])


def schema_version(connection: sqlite3.Connection) -> int:
    """Changes whenever anyone changes the database schema (cheap to poll)."""
    return int(connection.execute("PRAGMA schema_version").fetchone()[0])


def pending_count(connection: sqlite3.Connection) -> int:
    """How many changes the change table holds (after a checkpoint: those not yet in the topic)."""
    return int(connection.execute(f"SELECT COUNT(*) FROM {CHANGE_TABLE}").fetchone()[0])


def last_seq(connection: sqlite3.Connection) -> int | None:
    """The highest sequence in the change table, None when it is empty."""
    value = connection.execute(f"SELECT MAX(seq) FROM {CHANGE_TABLE}").fetchone()[0]
    return None if value is None else int(value)


def _text_or_bytes(value: bytes) -> str | bytes:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value
