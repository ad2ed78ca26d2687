"""The producer's database under the retry policy: a permanent fault while running is reported
`failing`, probed, and given up on past the window; a probe that succeeds recovers by itself."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from chinook_producer.database import Database
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.retry import RetryPolicy
from tests.unit.test_producer_capture import execute, make_db

FAST = RetryPolicy(base=0.01, cap=0.05, probe_interval=0.02, give_up_after=0.3)
QUERY = "SELECT count(*) FROM chinook_cdc_change"


def count(connection: sqlite3.Connection) -> int:
    return int(connection.execute(QUERY).fetchone()[0])


def test_a_missing_table_while_running_is_failing_then_given_up(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    database = Database(db, 0.05, FAST)
    health = Health()
    database.wait_out_locks(health, threading.Event())
    started = time.monotonic()
    with pytest.raises(PipelineError) as raised:
        database.run(count)
    assert time.monotonic() - started >= FAST.give_up_after
    assert str(raised.value) == (
        f"database {db} failed for 0s with no such table: chinook_cdc_change: restore the "
        "table, or point --db at the right file; giving up (nothing was committed past what is "
        "stored)"
    )
    status, body = health.report()
    assert status == 503 and body["status"] == "failing"
    assert "no such table: chinook_cdc_change" in str(body["reasons"])
    database.close()


def test_a_probe_that_succeeds_recovers(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    health = Health()
    results: list[int] = []

    def read() -> None:
        database = Database(db, 0.05, RetryPolicy(probe_interval=0.05, give_up_after=0))
        database.wait_out_locks(health, threading.Event())
        results.append(database.run(count))
        database.close()

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 30
    while health.report()[0] != 503:
        assert reader.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    execute(db, "CREATE TABLE chinook_cdc_change (seq INTEGER PRIMARY KEY)")
    reader.join(30)
    assert results == [0]
    assert health.report() == (200, {"status": "ok", "reasons": []})


def test_a_missing_table_while_starting_is_a_clear_error_at_once(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    database = Database(db, 0.05, FAST)
    with pytest.raises(PipelineError, match=r"no such table: chinook_cdc_change: restore the"):
        database.run(count)
    database.close()
