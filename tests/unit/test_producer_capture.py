"""Capture inside SQLite: triggers, the no-op-update filter, id changes, the initial snapshot."""

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from chinook_pipeline.tools.chinook_schema import CUSTOMER_DDL
from chinook_producer import capture, change_log
from chinook_producer.capture_state import load_state, save_checkpoint
from chinook_producer.database import Database
from chinook_shared.changes import COLUMN_NAMES
from chinook_shared.errors import PipelineError

ROWS: tuple[tuple[object, ...], ...] = (
    (
        1,
        "Luís",
        "Gonçalves",
        "Embraer",
        "Av. Brigadeiro Faria Lima, 2170",
        "São José dos Campos",
        "SP",
        "Brazil",
        "12227-000",
        "+55 (12) 3923-5555",
        "+55 (12) 3923-5566",
        "luisg@embraer.com.br",
        3,
    ),
    (
        2,
        "Leonie",
        "Köhler",
        None,
        "Theodor-Heuss-Straße 34",
        "Stuttgart",
        None,
        "Germany",
        "70174",
        "+49 0711 2842222",
        None,
        "leonekohler@surfeu.de",
        5,
    ),
    (
        3,
        "François",
        "Tremblay",
        None,
        "1498 rue Bélanger",
        "Montréal",
        "QC",
        "Canada",
        "H2G 1A7",
        "+1 (514) 721-4711",
        None,
        "ftremblay@gmail.com",
        3,
    ),
    (
        4,
        "Bjørn",
        "Hansen",
        None,
        "Ullevålsveien 14",
        "Oslo",
        None,
        "Norway",
        "0171",
        "+47 22 44 22 22",
        None,
        "bjorn.hansen@yahoo.no",
        4,
    ),
    (5, "名前", "苗字", None, None, None, None, None, None, None, None, "x@example.jp", None),
)
INSERT = "INSERT INTO Customer VALUES (" + ", ".join("?" * 13) + ")"


def make_db(path: Path, rows: Iterable[Sequence[object]] = ROWS) -> Path:
    """A database with the Chinook Customer table holding `rows`."""
    with sqlite3.connect(path) as connection:
        connection.executescript(CUSTOMER_DDL)
        connection.executemany(INSERT, rows)
    connection.close()
    return path


def execute(path: Path, sql: str, parameters: Sequence[object] = ()) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(sql, parameters)
    connection.close()


def changes(path: Path) -> list[tuple[object, ...]]:
    """(op, customer_id, *columns) of every change row, in sequence order."""
    connection = sqlite3.connect(path)
    rows = change_log.read_changes(connection, 0, 1_000_000)
    connection.close()
    return [(row["op"], row["customer_id"], *(row[name] for name in COLUMN_NAMES)) for row in rows]


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = make_db(tmp_path / "chinook.db")
    database = Database(path, 5.0)
    database.run(capture.use_wal)
    database.run(capture.install)
    database.close()
    return path


def test_install_snapshots_every_row_in_one_consistent_sequence(db: Path) -> None:
    assert changes(db) == [("snapshot", row[0], *row) for row in ROWS]
    connection = sqlite3.connect(db)
    state = load_state(connection)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stamps = [row[0] for row in connection.execute("SELECT captured_at_ms FROM chinook_cdc_change")]
    assert all(isinstance(stamp, int) and stamp > 1_600_000_000_000 for stamp in stamps)
    connection.close()
    assert state is not None and state.acked_seq == 0 and state.partition_offsets == {}
    assert len(state.source_id) == 32


def test_install_is_idempotent(db: Path) -> None:
    connection = sqlite3.connect(db, isolation_level=None)
    before = load_state(connection)
    assert capture.install(connection) == before
    connection.close()
    assert len(changes(db)) == len(ROWS)


def test_insert_update_delete_are_captured_with_the_right_row(db: Path) -> None:
    execute(
        db,
        INSERT,
        (6, "Ada", "Lovelace", None, None, None, None, None, None, None, None, "ada@x", None),
    )
    execute(db, "UPDATE Customer SET City = 'Porto', Fax = NULL WHERE CustomerId = 1")
    execute(db, "DELETE FROM Customer WHERE CustomerId = 2")
    captured = changes(db)[len(ROWS) :]
    assert captured[0] == ("insert", 6, 6, "Ada", "Lovelace", *[None] * 8, "ada@x", None)
    updated = list(ROWS[0])
    updated[5], updated[10] = "Porto", None
    assert captured[1] == ("update", 1, *updated)
    assert captured[2] == ("delete", 2, *ROWS[1])
    assert len(captured) == 3


def test_update_that_changes_nothing_writes_no_change(db: Path) -> None:
    execute(db, "UPDATE Customer SET City = City, Fax = Fax")
    execute(db, "UPDATE Customer SET State = NULL WHERE CustomerId = 2")  # NULL -> NULL
    assert len(changes(db)) == len(ROWS)


@pytest.mark.parametrize(("old", "new"), [(None, "x"), ("x", None), ("x", "y")])
def test_null_safe_comparison(db: Path, old: str | None, new: str | None) -> None:
    execute(db, "UPDATE Customer SET Fax = ? WHERE CustomerId = 5", (old,))
    before = len(changes(db))
    execute(db, "UPDATE Customer SET Fax = ? WHERE CustomerId = 5", (new,))
    captured = changes(db)
    assert len(captured) == before + 1
    assert captured[-1][0] == "update" and captured[-1][12] == new


def test_id_change_is_a_delete_then_an_insert(db: Path) -> None:
    execute(db, "UPDATE Customer SET CustomerId = 50 WHERE CustomerId = 3")
    captured = changes(db)[len(ROWS) :]
    assert captured == [("delete", 3, *ROWS[2]), ("insert", 50, 50, *ROWS[2][1:])]


def test_checkpoint_forgets_acknowledged_changes(db: Path) -> None:
    connection = sqlite3.connect(db, isolation_level=None)
    save_checkpoint(connection, 3, {0: 2, 4: 1})
    state = load_state(connection)
    connection.close()
    assert state is not None and state.acked_seq == 3 and state.partition_offsets == {0: 2, 4: 1}
    assert [row[1] for row in changes(db)] == [4, 5]


def test_missing_trigger_is_reinstalled_with_a_fresh_snapshot(db: Path) -> None:
    execute(db, "DROP TRIGGER chinook_cdc_customer_delete")
    execute(db, "DELETE FROM Customer WHERE CustomerId = 1")  # missed by capture
    connection = sqlite3.connect(db, isolation_level=None)
    before = load_state(connection)
    state = capture.install(connection)
    connection.close()
    assert before is not None and state.source_id == before.source_id
    assert [(op, cid) for op, cid, *_ in changes(db)] == [("snapshot", row[0]) for row in ROWS[1:]]


def test_resnapshot_replaces_pending_changes_and_keeps_sequences_growing(db: Path) -> None:
    connection = sqlite3.connect(db, isolation_level=None)
    state = load_state(connection)
    assert state is not None
    fresh = capture.resnapshot(connection, state, "other.topic")
    seqs = [row["seq"] for row in change_log.read_changes(connection, 0, 100)]
    connection.close()
    assert (
        fresh.acked_seq == len(ROWS)
        and fresh.topic == "other.topic"
        and fresh.partition_offsets == {}
    )
    assert seqs == list(range(len(ROWS) + 1, 2 * len(ROWS) + 1))


def test_invalid_utf8_text_comes_back_as_bytes_without_failing_the_batch(db: Path) -> None:
    execute(db, "UPDATE Customer SET City = CAST(X'FF61' AS TEXT) WHERE CustomerId = 4")
    captured = changes(db)
    assert captured[-1][7] == b"\xffa"
    assert captured[0][7] == "São José dos Campos"


def test_database_without_customer_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    execute(path, "CREATE TABLE Other (x)")
    database = Database(path, 1.0)
    with pytest.raises(PipelineError, match="has no Customer table"):
        database.run(lambda connection: capture.check_source(connection, path))
    database.close()
