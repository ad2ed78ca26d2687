"""Change sequences without AUTOINCREMENT: strictly increasing, never reused, even once every
acknowledged row is deleted and across restarts; and the upgrade of an AUTOINCREMENT table."""

import sqlite3
from pathlib import Path

from chinook_producer import capture, change_log
from chinook_producer.capture_state import (
    create_state_table,
    load_state,
    reset_state,
    save_checkpoint,
)
from chinook_producer.sequence import NEXT_SEQ, high_water
from chinook_shared.changes import COLUMN_NAMES
from tests.unit.test_producer_capture import INSERT, ROWS, execute, make_db

LEGACY_TABLE = (
    "CREATE TABLE chinook_cdc_change (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, "
    "customer_id INTEGER NOT NULL, captured_at_ms INTEGER NOT NULL, "
    + ", ".join(f'"{name}"' for name in COLUMN_NAMES)
    + ")"
)


def sequences(db: Path) -> list[int]:
    connection = sqlite3.connect(db)
    seqs = [row["seq"] for row in change_log.read_changes(connection, 0, 1_000_000)]
    connection.close()
    return seqs


def checkpoint_everything(db: Path) -> int:
    """What the producer does once the broker acknowledged every pending change."""
    connection = sqlite3.connect(db, isolation_level=None)
    last = max(sequences(db))
    save_checkpoint(connection, last, {0: last})
    connection.close()
    assert sequences(db) == []
    return last


def install(db: Path) -> None:
    connection = sqlite3.connect(db, isolation_level=None)
    capture.install(connection)
    connection.close()


def test_new_changes_number_past_every_deleted_one_across_restarts(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    install(db)
    published = checkpoint_everything(db)  # the table is empty: max(seq) knows nothing now
    install(db)  # a restart
    execute(db, "UPDATE Customer SET City = 'Porto' WHERE CustomerId = 1")
    execute(db, INSERT, (6, "Ada", "Lovelace", *[None] * 8, "ada@x", None))
    assert sequences(db) == [published + 1, published + 2]

    published = checkpoint_everything(db)
    install(db)
    execute(db, "DELETE FROM Customer WHERE CustomerId = 6")
    execute(db, "UPDATE Customer SET CustomerId = 60 WHERE CustomerId = 2")  # delete + insert
    assert sequences(db) == [published + 1, published + 2, published + 3]


def test_a_snapshot_after_everything_was_acknowledged_keeps_counting(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    install(db)
    published = checkpoint_everything(db)
    execute(db, "DROP TRIGGER chinook_cdc_customer_delete")  # forces a fresh snapshot
    install(db)
    assert sequences(db) == list(range(published + 1, published + len(ROWS) + 1))
    connection = sqlite3.connect(db)
    state = load_state(connection)
    assert state is not None and state.acked_seq == published
    assert high_water(connection) == published + len(ROWS)
    connection.close()


def install_legacy(db: Path) -> None:
    """Capture as an earlier version installed it: AUTOINCREMENT numbers the changes."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute(LEGACY_TABLE)
    create_state_table(connection)
    reset_state(connection, "legacy", 0, None)
    for name, body in capture.TRIGGERS.items():
        legacy = body.replace(f"{NEXT_SEQ}, ", "").replace("(seq, op,", "(op,")
        connection.execute(f"CREATE TRIGGER {name} {legacy}")
    connection.close()


def test_an_autoincrement_change_table_is_rebuilt_keeping_rows_and_numbers(
    tmp_path: Path,
) -> None:
    db = make_db(tmp_path / "chinook.db")
    install_legacy(db)
    for city in ("Porto", "Faro", "Braga", "Evora"):
        execute(db, "UPDATE Customer SET City = ? WHERE CustomerId = 1", (city,))
    connection = sqlite3.connect(db, isolation_level=None)
    save_checkpoint(connection, 2, {})
    pending = list(change_log.read_changes(connection, 0, 100))
    connection.close()
    assert [row["seq"] for row in pending] == [3, 4]

    install(db)  # the upgrade: no snapshot, the same rows, triggers of this version
    connection = sqlite3.connect(db)
    (table,) = connection.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'chinook_cdc_change'"
    ).fetchone()
    assert "AUTOINCREMENT" not in table
    assert list(change_log.read_changes(connection, 0, 100)) == pending
    state = load_state(connection)
    assert state is not None and state.source_id == "legacy" and state.acked_seq == 2
    connection.close()
    execute(db, "UPDATE Customer SET City = 'Lagos' WHERE CustomerId = 1")
    assert sequences(db) == [3, 4, 5]
    checkpoint_everything(db)
    install(db)
    execute(db, "UPDATE Customer SET City = 'Tavira' WHERE CustomerId = 1")
    assert sequences(db) == [6]


def install_computed(db: Path) -> None:
    """Capture as the previous version installed it: each trigger computes its number."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute(
        capture._CHANGE_TABLE_COLUMNS.join(("CREATE TABLE chinook_cdc_change (", ")"))
    )
    create_state_table(connection)
    reset_state(connection, "computed", 0, None)
    for name, body in capture.TRIGGERS.items():
        computed = body.replace("chinook_cdc_change (op,", "chinook_cdc_change (seq, op,")
        computed = computed.replace("VALUES ('", f"VALUES ({NEXT_SEQ}, '")
        assert computed.count(NEXT_SEQ) == body.count("INSERT INTO")
        connection.execute(f"CREATE TRIGGER {name} {computed}")
    connection.close()


def test_triggers_that_computed_numbers_are_upgraded_in_place(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    install_computed(db)
    execute(db, "UPDATE Customer SET City = 'Porto' WHERE CustomerId = 1")
    execute(db, "UPDATE Customer SET City = 'Faro' WHERE CustomerId = 1")
    connection = sqlite3.connect(db, isolation_level=None)
    assert capture.triggers_present(connection)  # nothing was missed: no snapshot needed
    connection.close()
    install(db)
    assert sequences(db) == [1, 2]
    connection = sqlite3.connect(db)
    state = load_state(connection)
    assert state is not None and state.source_id == "computed" and state.acked_seq == 0
    connection.close()
    checkpoint_everything(db)
    execute(db, "UPDATE Customer SET CustomerId = 60 WHERE CustomerId = 2")  # delete + insert
    assert sequences(db) == [3, 4]


def test_a_rekey_into_an_empty_table_numbers_both_rows_past_the_checkpoint(
    tmp_path: Path,
) -> None:
    db = make_db(tmp_path / "chinook.db")
    install(db)
    published = checkpoint_everything(db)
    execute(db, "UPDATE Customer SET CustomerId = 60 WHERE CustomerId = 2")
    execute(db, "UPDATE Customer SET City = 'Porto' WHERE CustomerId = 60")
    assert sequences(db) == [published + 1, published + 2, published + 3]


def test_capture_without_the_floor_trigger_counts_as_missing(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    install(db)
    published = checkpoint_everything(db)
    execute(db, "DROP TRIGGER chinook_cdc_change_floor")
    connection = sqlite3.connect(db, isolation_level=None)
    assert not capture.triggers_present(connection)
    connection.close()
    install(db)  # reinstalled with a fresh snapshot past every number given
    assert sequences(db) == list(range(published + 1, published + len(ROWS) + 1))
