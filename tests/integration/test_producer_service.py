"""The producer end to end against a real Tansu broker: once-only publishing, restarts, crashes."""

import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chinook_pipeline.local import embedded, kafka
from chinook_producer import capture
from chinook_producer.database import Database
from chinook_producer.metrics import DEAD_LETTERS, DELIVERY_ERRORS
from chinook_producer.service import run_producer
from chinook_producer.settings import ProducerSettings
from chinook_shared.changes import Operation
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings, partition_count
from tests.producer_runs import (
    assert_once_each,
    latest_rows,
    pending_changes,
    produce,
    read_topic,
    state_of,
    table_rows,
)
from tests.unit.test_producer_capture import INSERT, ROWS, execute, make_db


def test_publishes_every_row_once_with_key_timestamp_and_source(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    produce(db, broker, topic)
    records = read_topic(broker.bootstrap_servers, topic)
    state = state_of(db)
    assert [record.row for record in records] == list(ROWS)
    assert {record.change.op for record in records} == {Operation.OPERATION_SNAPSHOT}
    for record in records:
        assert record.key == str(record.change.customer_id).encode()
        assert record.timestamp == record.change.captured_at.ToMilliseconds() > 0
        assert record.source == state.source_id.encode()
    assert partition_count(KafkaSettings(broker.bootstrap_servers), topic) == 3
    assert state.acked_seq == len(ROWS) and state.topic == topic
    assert state.partition_offsets == {
        p: 1 + max(r.offset for r in records if r.partition == p)
        for p in {r.partition for r in records}
    }
    assert pending_changes(db) == 0


def test_restart_publishes_only_changes_made_since(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    produce(db, broker, topic)
    produce(db, broker, topic)
    assert len(read_topic(broker.bootstrap_servers, topic)) == len(ROWS)

    execute(
        db,
        INSERT,
        (6, "Ada", "Lovelace", None, None, None, None, None, None, None, None, "ada@x", None),
    )
    execute(db, "UPDATE Customer SET City = 'Porto' WHERE CustomerId = 1")
    execute(db, "UPDATE Customer SET City = City")
    execute(db, "DELETE FROM Customer WHERE CustomerId = 2")
    execute(db, "UPDATE Customer SET CustomerId = 60 WHERE CustomerId = 3")
    produce(db, broker, topic, batch_rows=2)

    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert [(r.change.op, r.change.customer_id) for r in records[len(ROWS) :]] == [
        (Operation.OPERATION_INSERT, 6),
        (Operation.OPERATION_UPDATE, 1),
        (Operation.OPERATION_DELETE, 2),
        (Operation.OPERATION_DELETE, 3),
        (Operation.OPERATION_INSERT, 60),
    ]
    assert latest_rows(records) == table_rows(db)
    assert pending_changes(db) == 0


def test_crash_after_ack_before_checkpoint_publishes_no_duplicates(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    database = Database(db, 5.0)
    database.run(capture.use_wal)
    database.run(capture.install)
    database.run(lambda connection: connection.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    database.close()
    before_publish = tmp_path / "before.db"
    shutil.copyfile(db, before_publish)

    produce(db, broker, topic)  # published and acknowledged...
    shutil.copyfile(before_publish, db)  # ...but the checkpoint was never written
    Path(f"{db}-wal").unlink(missing_ok=True)
    Path(f"{db}-shm").unlink(missing_ok=True)
    execute(db, "UPDATE Customer SET Email = 'new@example.com' WHERE CustomerId = 4")
    produce(db, broker, topic)

    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert len(records) == len(ROWS) + 1
    assert latest_rows(records) == table_rows(db)
    assert pending_changes(db) == 0


def test_kill_9_while_publishing_loses_and_duplicates_nothing(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(
        tmp_path / "chinook.db",
        [
            (
                i,
                f"First{i}",
                f"Last{i}",
                None,
                None,
                "Zürich",
                None,
                "CH",
                None,
                None,
                None,
                f"u{i}@x",
                1,
            )
            for i in range(1, 30_001)
        ],
    )
    script = (
        "import sys, threading; from pathlib import Path; from producer.settings import ProducerSettings; "
        "from producer.service import run_producer; from shared.kafka import KafkaSettings; "
        "from shared.health import Health; "
        "run_producer(ProducerSettings(Path(sys.argv[1]), KafkaSettings(sys.argv[2]), topic=sys.argv[3], "
        "partitions=3), Health(), threading.Event())"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(db), broker.bootstrap_servers, topic],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        while not read_topic(broker.bootstrap_servers, topic) and process.poll() is None:
            pass
        execute(db, "UPDATE Customer SET City = 'Bern' WHERE CustomerId % 1000 = 0")
    finally:
        process.kill()
        process.wait()
    produce(db, broker, topic)

    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert latest_rows(records) == table_rows(db)
    assert pending_changes(db) == 0


def test_changes_reach_the_topic_while_running_and_stop_checkpoints(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    stop = threading.Event()
    settings = ProducerSettings(
        db, KafkaSettings(broker.bootstrap_servers), topic=topic, partitions=2
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_producer(settings, Health(), stop)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        while len(read_topic(broker.bootstrap_servers, topic)) < len(ROWS) and thread.is_alive():
            pass
        execute(db, "UPDATE Customer SET Company = 'Acme' WHERE CustomerId = 5")
        while (
            len(read_topic(broker.bootstrap_servers, topic)) < len(ROWS) + 1 and thread.is_alive()
        ):
            pass
    finally:
        stop.set()
        thread.join()
    assert not errors
    records = read_topic(broker.bootstrap_servers, topic)
    assert records[-1].change.op == Operation.OPERATION_UPDATE and records[-1].row[3] == "Acme"
    assert state_of(db).acked_seq == records[-1].change.sequence
    assert pending_changes(db) == 0


def test_moving_to_another_topic_snapshots_into_it(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    produce(db, broker, topic)
    execute(db, "DELETE FROM Customer WHERE CustomerId = 1")
    produce(db, broker, f"{topic}.moved")
    records = read_topic(broker.bootstrap_servers, f"{topic}.moved")
    assert [(r.change.op, r.change.customer_id) for r in records] == [
        (Operation.OPERATION_SNAPSHOT, row[0]) for row in ROWS[1:]
    ]
    assert state_of(db).topic == f"{topic}.moved"


def test_unencodable_row_is_skipped_and_counted(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    execute(db, "UPDATE Customer SET LastName = X'00FF' WHERE CustomerId = 2")
    execute(db, "UPDATE Customer SET City = CAST(X'FF61' AS TEXT) WHERE CustomerId = 3")
    dead_before = DEAD_LETTERS._value.get()
    produce(db, broker, topic)
    records = read_topic(broker.bootstrap_servers, topic)
    assert [record.change.customer_id for record in records] == [1, 4, 5]
    assert DEAD_LETTERS._value.get() - dead_before == 2
    assert pending_changes(db) == 0


def test_real_chinook(real_chinook: Path, broker: kafka.Cluster, topic: str) -> None:
    produce(real_chinook, broker, topic)
    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert latest_rows(records) == table_rows(real_chinook)


def test_delivery_errors_are_counted_and_no_change_is_skipped(
    tmp_path: Path, broker: kafka.Cluster, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = make_db(tmp_path / "chinook.db", rows=())
    # The changes are written once the producer publishes, with the broker paused: their
    # messages expire (after 1 ms) unanswered, and the client reports each as a delivery error.
    failing = KafkaSettings(
        broker.bootstrap_servers, extra={"message.timeout.ms": "1", "linger.ms": "0"}
    )
    settings = ProducerSettings(db, failing, topic=topic, partitions=3)
    stop = threading.Event()
    errors_before = DELIVERY_ERRORS._value.get()
    caplog.set_level(logging.INFO, logger="chinook_producer.service")
    thread = threading.Thread(target=run_producer, args=(settings, Health(), stop))
    thread.start()
    paused = False
    try:
        while "publishing changes after" not in caplog.text and thread.is_alive():
            stop.wait(0.01)
        broker.nodes[0].pause()
        paused = True
        for row in ROWS:
            execute(db, INSERT, row)
        while DELIVERY_ERRORS._value.get() == errors_before and thread.is_alive():
            stop.wait(0.01)
    finally:
        stop.set()
        if paused:
            broker.nodes[0].resume()
        thread.join()
    assert DELIVERY_ERRORS._value.get() > errors_before
    assert state_of(db).acked_seq == 0

    produce(db, broker, topic)
    records = read_topic(broker.bootstrap_servers, topic)
    assert_once_each(records)
    assert [record.row for record in records] == list(ROWS)


@pytest.mark.slow
def test_broker_outage_is_ridden_out_without_loss_or_duplicates(
    tmp_path: Path, s3_server: embedded.S3Server, bucket: str, topic: str
) -> None:
    durable = kafka.start_cluster(tmp_path / "kafka")
    db = make_db(tmp_path / "chinook.db")
    settings = ProducerSettings(
        db, KafkaSettings(durable.bootstrap_servers), topic=topic, partitions=2
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_producer, args=(settings, Health(), stop))
    thread.start()
    try:
        while len(read_topic(durable.bootstrap_servers, topic)) < len(ROWS) and thread.is_alive():
            pass
        durable.stop()
        execute(db, "UPDATE Customer SET City = 'Lisboa' WHERE CustomerId = 1")
        execute(db, "DELETE FROM Customer WHERE CustomerId = 4")
        durable.restart()
        while (
            len(read_topic(durable.bootstrap_servers, topic)) < len(ROWS) + 2 and thread.is_alive()
        ):
            pass
    finally:
        stop.set()
        thread.join()
        durable.stop()
    durable.restart()
    try:
        records = read_topic(durable.bootstrap_servers, topic)
    finally:
        durable.stop()
    assert_once_each(records)
    assert latest_rows(records) == table_rows(db)
    assert pending_changes(db) == 0
