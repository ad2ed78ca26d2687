"""The consumer writing Iceberg tables on real parts (Tansu, moto S3, a SQLite catalog), checked
by `chinook-pipeline iceberg verify`: every change once, the state table equal to the database,
and a catalog locked for a while ridden out."""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from confluent_kafka import Producer

from chinook_pipeline.local import kafka
from chinook_shared import names
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.s3 import S3Settings
from tests.conftest import Cli, wait_for
from tests.faults.processes import Pipeline, Service, start_writes
from tests.integration.test_dead_letters import read_letters
from tests.table_cli import CHANGES, catalog_uri, table_pipeline, verify_tables, verify_tables_ok

pytestmark = pytest.mark.slow

CUSTOMERS = 300
BATCHES = ("--flush-records", "200", "--flush-age", "1")
LOCK_SECONDS = 10.0  # past SQLite's 5 s busy timeout: commits fail, then land


@pytest.fixture()
def pipeline(cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path) -> Pipeline:
    return table_pipeline(cli, broker, topic, bucket, tmp_path, CUSTOMERS, BATCHES)


def test_every_change_becomes_one_row_and_the_state_matches(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline.produce_all()
    pipeline.consume_all()
    first = verify_tables_ok(pipeline.cli, pipeline.db, catalog_uri(tmp_path))
    assert "OK: " in first and " 300 events" in first, first
    with closing(sqlite3.connect(pipeline.db)) as connection, connection:
        connection.execute("UPDATE Customer SET City = 'Tromsø' WHERE CustomerId % 7 = 0")
        connection.execute("DELETE FROM Customer WHERE CustomerId % 11 = 0")
    pipeline.produce_all()
    pipeline.consume_all()  # a second run: starts at the tables' positions, adds only new events
    second = verify_tables_ok(pipeline.cli, pipeline.db, catalog_uri(tmp_path))
    assert "OK: " in second and " 0 duplicate events" in second, second

    changes = open_catalog(CatalogSettings(uri=catalog_uri(tmp_path)), S3Settings()).load_table(
        CHANGES
    )
    changes.append(changes.scan(limit=1).to_arrow())  # one event stored twice
    with closing(sqlite3.connect(pipeline.db)) as connection, connection:
        connection.execute("UPDATE Customer SET Email = 'x@y' WHERE CustomerId = 2")
    caught = verify_tables(pipeline.cli, pipeline.db, catalog_uri(tmp_path))
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert "1 different" in caught.stdout and "kafka record" in caught.stdout, caught.stdout


def test_a_locked_catalog_is_ridden_out(pipeline: Pipeline, tmp_path: Path) -> None:
    """Locked at start (the tables cannot be opened), then while batches are being committed."""
    pipeline.produce_all()
    try:
        with closing(sqlite3.connect(tmp_path / "iceberg.db", timeout=30)) as catalog:
            catalog.execute("BEGIN EXCLUSIVE")
            consumer = pipeline.start_consumer()
            opening = wait_for(
                lambda: [
                    r for r in _degraded_within(consumer, 0.5) if r.startswith("tables: open")
                ],
                "the consumer to report the locked catalog at start",
                30,
            )
            catalog.rollback()
        assert "database is locked" in str(opening), opening
        wait_for(lambda: consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED), "a first commit")
        writes, _ = start_writes(pipeline.db, 300, 100.0, 5)
        producer = pipeline.start_producer()
        with closing(sqlite3.connect(tmp_path / "iceberg.db", timeout=30)) as catalog:
            catalog.execute("BEGIN EXCLUSIVE")  # no commit can land while this is held
            reasons = _degraded_within(consumer, LOCK_SECONDS)
            catalog.rollback()
        writes.join()
        assert any(r.startswith("tables: ") and "database is locked" in r for r in reasons), (
            f"health never showed the locked catalog ({reasons}):\n{consumer.output()[-3000:]}"
        )
        wait_for(
            lambda: verify_tables(pipeline.cli, pipeline.db, catalog_uri(tmp_path)).returncode == 0,
            "every change in the tables",
            120,
            interval=1.0,
        )
        assert consumer.running() and consumer.health()[0] == 200
        for service in (producer, consumer):
            assert service.stop() == 0, service.output()[-3000:]
    finally:
        pipeline.kill_all()


def _degraded_within(consumer: Service, seconds: float) -> list[str]:
    """The reasons of every `degraded` health seen within `seconds`."""
    deadline, reasons = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        _, body = consumer.health()
        if body.get("status") == "degraded":
            reasons += body.get("reasons", [])
        time.sleep(0.2)
    return reasons


def test_poison_records_go_to_the_dead_letter_topic_once(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline.produce_all()
    producer = Producer({"bootstrap.servers": pipeline.bootstrap_servers})
    for partition in range(3):
        producer.produce(pipeline.topic, b"\xff\xff not a change", partition=partition)
    assert producer.flush(30) == 0
    pipeline.consume_all()
    assert len(read_letters(pipeline.bootstrap_servers, f"{pipeline.topic}.dlq")) == 3
    pipeline.consume_all()  # again: the tables' positions are past the poison
    assert len(read_letters(pipeline.bootstrap_servers, f"{pipeline.topic}.dlq")) == 3
    summary = verify_tables_ok(pipeline.cli, pipeline.db, catalog_uri(tmp_path))
    assert " 300 events" in summary, summary
