"""The capture state row: which source this is and how far the topic is known to hold it.

`acked_seq` is the checkpoint: every change up to it is in the topic and gone from the change
table. `partition_offsets` says, per partition, from which offset a recovery must read the topic
to see every message of a later change.
"""

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Final

from chinook_producer.change_log import CHANGE_TABLE
from chinook_producer.database import immediate

STATE_TABLE: Final = "chinook_cdc_state"


@dataclass(frozen=True)
class CaptureState:
    source_id: str
    acked_seq: int
    partition_offsets: dict[int, int] = field(default_factory=dict)
    topic: str | None = None


def create_state_table(connection: sqlite3.Connection) -> None:
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "source_id TEXT NOT NULL, acked_seq INTEGER NOT NULL, "
        "partition_offsets TEXT NOT NULL, topic TEXT)"
    )


def load_state(connection: sqlite3.Connection) -> CaptureState | None:
    row = connection.execute(
        f"SELECT source_id, acked_seq, partition_offsets, topic FROM {STATE_TABLE} WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    source_id, acked_seq, offsets, topic = row
    return CaptureState(
        source_id, int(acked_seq), {int(p): int(o) for p, o in json.loads(offsets).items()}, topic
    )


def reset_state(
    connection: sqlite3.Connection, source_id: str, acked_seq: int, topic: str | None
) -> CaptureState:
    """Write a state with no known topic positions (inside the caller's transaction)."""
    connection.execute(
        f"INSERT OR REPLACE INTO {STATE_TABLE} (id, source_id, acked_seq, partition_offsets, topic) "
        "VALUES (1, ?, ?, '{}', ?)",
        (source_id, acked_seq, topic),
    )
    return CaptureState(source_id, acked_seq, {}, topic)


def set_topic(connection: sqlite3.Connection, topic: str) -> None:
    connection.execute(f"UPDATE {STATE_TABLE} SET topic = ? WHERE id = 1", (topic,))


def save_checkpoint(
    connection: sqlite3.Connection, acked_seq: int, offsets: dict[int, int]
) -> None:
    """Forget the acknowledged changes and record the new position, in one transaction."""
    with immediate(connection):
        connection.execute(f"DELETE FROM {CHANGE_TABLE} WHERE seq <= ?", (acked_seq,))
        connection.execute(
            f"UPDATE {STATE_TABLE} SET acked_seq = ?, partition_offsets = ? WHERE id = 1",
            (acked_seq, json.dumps({str(p): o for p, o in sorted(offsets.items())})),
        )
