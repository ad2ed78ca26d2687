"""Bad database states while the producer runs: a table dropped, recreated or altered, a long lock.

Each ends in a clear PipelineError or a clean retry, never in a silent stop or a lost change.
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_producer import capture, schema_watch
from chinook_producer.database import Database, lock_backoff
from chinook_producer.schema_watch import Action, SchemaWatch, Source, assess
from chinook_producer.service import run_producer
from chinook_producer.settings import ProducerSettings
from chinook_shared.changes import COLUMN_NAMES, Operation
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from tests.producer_runs import (
    Record,
    assert_once_each,
    latest_rows,
    pending_changes,
    read_topic,
    table_rows,
)
from tests.unit.test_producer_capture import CUSTOMER_DDL, INSERT, ROWS, execute, make_db

WAIT: float = 120.0  # seconds; a bound against hanging, not a speed requirement
CHINOOK = tuple(COLUMN_NAMES)
LOCKED_REASON = "sqlite: database locked by another connection, retrying"


class Running:
    """`run_producer` on a thread, with what it raised."""

    def __init__(self, db: Path, broker: kafka.Cluster, topic: str, **options: object) -> None:
        self.health = Health()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        settings = ProducerSettings(
            db, KafkaSettings(broker.bootstrap_servers), topic=topic, partitions=2, **options
        )  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._run, args=(settings,))
        self._thread.start()

    def _run(self, settings: ProducerSettings) -> None:
        try:
            run_producer(settings, self.health, self.stop)
        except BaseException as error:
            self.error = error

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            assert self._thread.is_alive(), f"producer ended ({self.error!r}) before {what}"
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.02)

    def records(self, broker: kafka.Cluster, topic: str, count: int) -> list[Record]:
        """The topic's records, once it holds at least `count`."""
        found: list[Record] = []

        def enough() -> bool:
            found[:] = read_topic(broker.bootstrap_servers, topic)
            return len(found) >= count

        self.wait_until(enough, f"{count} records in {topic}")
        return found

    def ended(self) -> BaseException | None:
        """Wait for the producer to end by itself; what it raised."""
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the producer did not stop"
        return self.error

    def stopped(self) -> None:
        self.stop.set()
        assert self.ended() is None


def script(db: Path, *statements: str) -> None:
    """Run `statements` in one transaction on a connection of its own."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("BEGIN")
    for statement in statements:
        connection.execute(statement)
    connection.execute("COMMIT")
    connection.close()


def reasons(health: Health) -> list[str]:
    """Why `/healthz` says degraded (empty when ok)."""
    return list(health.report()[1]["reasons"])  # type: ignore[call-overload]


def ops(records: list[Record]) -> list[tuple[int, int]]:
    return [(record.change.op, record.change.customer_id) for record in records]


def test_assess_decisions(tmp_path: Path) -> None:
    path = tmp_path / "chinook.db"
    fine = Source(CHINOOK, True)
    wider = Source((*CHINOOK, "Loyalty"), True)
    assert assess(path, None, fine) is None
    assert assess(path, None, wider) is None  # extra columns from the start are no news
    assert assess(path, fine, fine) is None
    added = assess(path, fine, wider)
    assert added is not None and added.action is Action.CARRY_ON and "Loyalty" in added.message
    recreated = assess(path, fine, Source(CHINOOK, False))
    assert recreated is not None and recreated.action is Action.REINSTALL
    gone = assess(path, fine, Source((), False))
    assert gone is not None and gone.action is Action.STOP
    assert gone.message == (
        f"table Customer was dropped from {path} while the producer was running: restore it, then restart"
    )
    renamed = assess(path, fine, Source(tuple("Town" if c == "City" else c for c in CHINOOK), True))
    assert (
        renamed is not None
        and renamed.action is Action.STOP
        and "column(s) City " in renamed.message
    )
    narrower = assess(path, fine, Source(CHINOOK[:-1], False))  # recreated without a column
    assert narrower is not None and narrower.action is Action.STOP


def test_settle_raises_for_stop_only(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PipelineError, match=r"restart; changes captured so far are published$"):
        schema_watch.settle(
            schema_watch.Verdict(Action.STOP, "table gone: restore it, then restart"), 0
        )
    with pytest.raises(
        PipelineError, match=r"3 change.s. captured so far are not in the topic yet"
    ):
        schema_watch.settle(
            schema_watch.Verdict(Action.STOP, "table gone: restore it, then restart"), 3
        )
    schema_watch.settle(schema_watch.Verdict(Action.REINSTALL, "triggers gone"), 0)
    assert "fresh snapshot replaces" not in caplog.text


def test_schema_watch_follows_ddl(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = make_db(tmp_path / "chinook.db")
    database = Database(db, 5.0)
    database.run(capture.install)
    watch = SchemaWatch(db)
    caplog.set_level(logging.WARNING)
    assert database.run(watch.check) is None
    execute(db, "ALTER TABLE Customer ADD COLUMN Loyalty INTEGER")
    assert database.run(watch.check) is None
    assert "columns of table Customer" in caplog.text and "Loyalty" in caplog.text
    execute(db, "DROP TRIGGER chinook_cdc_customer_update")
    verdict = database.run(watch.check)
    assert verdict is not None and verdict.action is Action.REINSTALL
    execute(db, "DROP TABLE Customer")
    verdict = database.run(watch.check)
    assert verdict is not None and verdict.action is Action.STOP
    database.close()


def test_install_refuses_a_table_without_the_chinook_columns(tmp_path: Path) -> None:
    db = tmp_path / "chinook.db"
    execute(db, "CREATE TABLE Customer (CustomerId INTEGER PRIMARY KEY, FirstName TEXT)")
    database = Database(db, 5.0)
    with pytest.raises(PipelineError, match=r"lacks column.s. LastName"):
        database.run(capture.install)
    assert not database.run(capture.triggers_present)
    database.close()
    execute(db, "INSERT INTO Customer VALUES (1, 'Ada')")  # the application's writes still work


def test_lock_backoff_grows_to_a_cap() -> None:
    delays = [lock_backoff(attempt) for attempt in range(1, 40)]
    assert delays == sorted(delays) and delays[0] > 0 and delays[-1] == lock_backoff(1000)


def test_a_running_database_waits_out_a_lock(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")  # rollback journal: the lock blocks readers too
    health, stop = Health(), threading.Event()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE Customer SET City = 'Locked' WHERE CustomerId = 1")
    results: list[object] = []

    def read() -> None:
        database = Database(db, 0.01)
        database.wait_out_locks(health, stop)
        query = "SELECT City FROM Customer WHERE CustomerId = 1"
        results.append(database.run(lambda connection: connection.execute(query).fetchone()))
        database.close()

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + WAIT
    while not reasons(health):
        assert reader.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    assert reasons(health) == [LOCKED_REASON]
    holder.execute("COMMIT")
    holder.close()
    reader.join(WAIT)
    assert results == [("Locked",)]
    assert health.report()[1] == {"status": "ok", "reasons": []}


def test_stop_ends_a_lock_wait_with_the_clear_error(tmp_path: Path) -> None:
    db = make_db(tmp_path / "chinook.db")
    stop = threading.Event()
    stop.set()
    database = Database(db, 0.01)
    database.wait_out_locks(Health(), stop)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PipelineError, match="stayed locked by another connection"):
            database.run(lambda c: c.execute("SELECT COUNT(*) FROM Customer").fetchone())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.close()


def test_table_dropped_while_running_publishes_everything_then_fails_clearly(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    producer = Running(db, broker, topic)
    producer.records(broker, topic, len(ROWS))
    execute(db, "UPDATE Customer SET City = 'Porto' WHERE CustomerId = 1")
    # Captured in the very transaction that drops the table: must still reach the topic.
    script(db, "UPDATE Customer SET City = 'Faro' WHERE CustomerId = 2", "DROP TABLE Customer")
    error = producer.ended()
    assert isinstance(error, PipelineError)
    assert str(error) == (
        f"table Customer was dropped from {db} while the producer was running: restore it, then "
        "restart; changes captured so far are published"
    )
    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert ops(records[len(ROWS) :]) == [
        (Operation.OPERATION_UPDATE, 1),
        (Operation.OPERATION_UPDATE, 2),
    ]
    assert records[-1].row[5] == "Faro"
    assert pending_changes(db) == 0


def test_column_renamed_while_running_fails_clearly(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    producer = Running(db, broker, topic)
    producer.records(broker, topic, len(ROWS))
    script(
        db,
        "DELETE FROM Customer WHERE CustomerId = 3",
        "ALTER TABLE Customer RENAME COLUMN City TO Town",
    )
    error = producer.ended()
    assert isinstance(error, PipelineError)
    assert "column(s) City of table Customer" in str(error) and "were dropped or renamed" in str(
        error
    )
    assert str(error).endswith("changes captured so far are published")
    records = read_topic(broker.bootstrap_servers, topic)
    assert ops(records[len(ROWS) :]) == [(Operation.OPERATION_DELETE, 3)]
    assert pending_changes(db) == 0


def test_table_recreated_while_running_is_captured_again_with_a_snapshot(
    tmp_path: Path, broker: kafka.Cluster, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    db = make_db(tmp_path / "chinook.db")
    producer = Running(db, broker, topic)
    producer.records(broker, topic, len(ROWS))
    recreated = [
        (1, *ROWS[0][1:5], "Porto", *ROWS[0][6:]),
        *ROWS[1:],
        (7, "Grace", "Hopper", *[None] * 8, "grace@x", None),
    ]
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("BEGIN")
    connection.execute("UPDATE Customer SET Company = 'Gone' WHERE CustomerId = 4")
    connection.execute("DROP TABLE Customer")
    connection.execute(CUSTOMER_DDL)
    connection.executemany(INSERT, recreated)
    connection.execute("COMMIT")
    connection.close()
    snapshot = producer.records(broker, topic, 2 * len(ROWS) + 2)[len(ROWS) + 1 :]
    assert [record.row for record in snapshot] == recreated
    assert {record.change.op for record in snapshot} == {Operation.OPERATION_SNAPSHOT}
    execute(db, INSERT, (8, "Alan", "Turing", *[None] * 8, "alan@x", None))
    producer.records(broker, topic, 2 * len(ROWS) + 3)
    producer.stopped()

    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert ops(records[len(ROWS) : len(ROWS) + 1]) == [
        (Operation.OPERATION_UPDATE, 4)
    ]  # before the drop
    assert ops(records[-1:]) == [(Operation.OPERATION_INSERT, 8)]
    assert latest_rows(records) == table_rows(db)
    assert pending_changes(db) == 0
    assert "capture triggers on table Customer" in caplog.text
    with sqlite3.connect(db) as connection:
        assert capture.triggers_present(connection)
    connection.close()


def test_column_added_while_running_keeps_capturing(
    tmp_path: Path, broker: kafka.Cluster, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    db = make_db(tmp_path / "chinook.db")
    producer = Running(db, broker, topic)
    producer.records(broker, topic, len(ROWS))
    execute(db, "ALTER TABLE Customer ADD COLUMN Loyalty INTEGER")
    execute(
        db,
        "INSERT INTO Customer (CustomerId, FirstName, LastName, Email, Loyalty) "
        "VALUES (6, 'Ada', 'Lovelace', 'ada@x', 7)",
    )
    execute(db, "UPDATE Customer SET Loyalty = 3 WHERE CustomerId = 6")  # no Chinook column changed
    execute(db, "UPDATE Customer SET City = 'Bergen' WHERE CustomerId = 4")
    records = producer.records(broker, topic, len(ROWS) + 2)
    producer.stopped()
    assert ops(records[len(ROWS) :]) == [
        (Operation.OPERATION_INSERT, 6),
        (Operation.OPERATION_UPDATE, 4),
    ]
    assert records[-2].row == (6, "Ada", "Lovelace", *[None] * 8, "ada@x", None)
    assert records[-1].row[5] == "Bergen"
    assert "columns of table Customer" in caplog.text
    assert pending_changes(db) == 0


def test_lock_held_past_the_busy_timeout_is_waited_out_without_loss(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    producer = Running(db, broker, topic, busy_timeout=0.05)
    producer.records(broker, topic, len(ROWS))
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        # Lock while a captured change still awaits its checkpoint, so the producer must write.
        for attempt in range(100):
            holder.execute(f"UPDATE Customer SET Company = 'Try {attempt}' WHERE CustomerId = 1")
            holder.execute("BEGIN EXCLUSIVE")
            if holder.execute("SELECT COUNT(*) FROM chinook_cdc_change").fetchone()[0]:
                break
            holder.execute("ROLLBACK")
        else:
            pytest.fail("the producer always checkpointed before the lock was taken")
        holder.execute(INSERT, (6, "Ada", "Lovelace", *[None] * 8, "ada@x", None))
        holder.execute("DELETE FROM Customer WHERE CustomerId = 5")
        producer.wait_until(
            lambda: LOCKED_REASON in reasons(producer.health), "health degraded by the lock"
        )
        holder.execute("COMMIT")
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
    records = producer.records(broker, topic, len(ROWS) + attempt + 3)
    producer.wait_until(lambda: not reasons(producer.health), "health ok again")
    producer.stopped()

    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert ops(records[-2:]) == [(Operation.OPERATION_INSERT, 6), (Operation.OPERATION_DELETE, 5)]
    assert latest_rows(records) == table_rows(db)
    assert pending_changes(db) == 0
