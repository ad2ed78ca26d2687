"""Reading the change table the capture triggers fill, in sequence order."""

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from chinook_shared.changes import COLUMN_NAMES

CHANGE_TABLE: Final = "chinook_cdc_change"
# Every column a change row is read with: what the producer needs to publish the change.
CHANGE_FIELDS: Final = ("seq", "op", "customer_id", "captured_at_ms", *COLUMN_NAMES)
ChangeRow = Mapping[str, Any]  # one change row, {column name: value}
_SELECTED: Final = ", ".join(f'"{name}"' for name in CHANGE_FIELDS)
_READ: Final = f"SELECT {_SELECTED} FROM {CHANGE_TABLE} WHERE seq > ? ORDER BY seq LIMIT ?"


class ChangeRows:
    """Change rows of one read, oldest first, addressed by column name (the names come from
    the cursor's description, once per read).

    `column(name)` gives one column for the whole read (one transposition, shared by every
    column: what the batch encoder reads); iterating gives each row as {name: value} (built per
    row, for the rare row-by-row path and for tests).
    """

    def __init__(self, names: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        self.names = tuple(names)
        self._rows = rows
        self._columns: dict[str, tuple[Any, ...]] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.names
        return (dict(zip(names, row, strict=True)) for row in self._rows)

    def column(self, name: str) -> tuple[Any, ...]:
        if self._columns is None:
            self._columns = dict(zip(self.names, zip(*self._rows, strict=True), strict=True))
        return self._columns[name]

    @property
    def last_seq(self) -> int:
        return int(self._rows[-1][self.names.index("seq")])


def snapshot_row(seq: int, customer: Sequence[Any], captured_at_ms: int) -> ChangeRow:
    """The change row a snapshot of `customer` (a `Customer` row, in table order) would be."""
    return {
        "seq": seq,
        "op": "snapshot",
        "customer_id": customer[0],
        "captured_at_ms": captured_at_ms,
        **dict(zip(COLUMN_NAMES, customer, strict=True)),
    }


def read_changes(connection: sqlite3.Connection, after_seq: int, limit: int) -> ChangeRows:
    """Up to `limit` change rows with seq > `after_seq`, oldest first.

    Text that is not valid UTF-8 (SQLite stores whatever it is given) comes back as bytes for the
    encoder to reject, instead of failing the whole batch.
    """
    try:
        return _read(connection, after_seq, limit)
    except sqlite3.OperationalError as error:
        if "decode" not in str(error):
            raise
    connection.text_factory = _text_or_bytes
    try:
        return _read(connection, after_seq, limit)
    finally:
        connection.text_factory = str


def _read(connection: sqlite3.Connection, after_seq: int, limit: int) -> ChangeRows:
    cursor = connection.execute(_READ, (after_seq, limit))
    rows = cursor.fetchall()
    return ChangeRows([column[0] for column in cursor.description], rows)


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
