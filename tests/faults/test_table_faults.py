"""Faults of the consumer writing Iceberg tables while the database keeps changing, kills: kill -9
at random instants (mid-batch, mid-commit, between the change table's commit and the state
table's), and a group member killed -9 and another added (S3 faults: test_table_outages.py).
Afterwards every change is in the change table exactly once and the state table equals the
database (`chinook-pipeline iceberg verify`)."""

import random
import time
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.faults.processes import kill_repeatedly, start_writes
from tests.faults.scenario import SEED, all_alive, assigned, publishing, stop_ok
from tests.faults.table_scenario import (
    BATCHES,
    KILLS,
    MAX_LIFETIME,
    SEEDED,
    WRITE_SECONDS,
    WRITES,
    tables_arrive,
)
from tests.table_cli import catalog_uri, table_pipeline, verify_tables_ok

pytestmark = pytest.mark.slow


def test_table_consumer_killed_at_random_instants(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, SEEDED, BATCHES)
    db = pipeline.db
    try:
        producer = pipeline.start_producer()
        publishing(producer)
        writes, counts = start_writes(db, WRITES, WRITES / WRITE_SECONDS, SEED + 20)
        killed = kill_repeatedly(
            pipeline.start_consumer,
            KILLS,
            random.Random(SEED + 20),
            MAX_LIFETIME,
            assigned,
            keep_going=writes.is_alive,
        )
        writes.join()
        assert counts.get("update") and counts.get("delete"), counts
        all_alive(producer)
        stop_ok(producer)
        pipeline.produce_all()
        pipeline.consume_all()
        consumed = [k.at_kill.get(names.CONSUMER_RECORDS_CONSUMED, 0) for k in killed]
        print(f"{len(killed)} table consumer kills; records consumed by each: {consumed}")
        assert any(consumed), "no kill hit a consumer that had consumed records"
        summary = verify_tables_ok(cli, db, catalog_uri(tmp_path))
        assert " 0 duplicate events" in summary, summary
    finally:
        pipeline.kill_all()


def test_table_group_member_killed_and_one_added(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, SEEDED, BATCHES)
    try:
        producer = pipeline.start_producer()
        publishing(producer)
        first, second = pipeline.start_consumer(), pipeline.start_consumer()
        writes, counts = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 22)
        wait_for(
            lambda: second.metrics().get(names.CONSUMER_OFFSETS_COMMITTED),
            "the second member's first commit",
        )
        second.kill()
        time.sleep(WRITE_SECONDS / 4)
        third = pipeline.start_consumer()
        writes.join()
        assert counts.get("update") and counts.get("delete"), counts
        summary = tables_arrive(pipeline, catalog_uri(tmp_path), producer, first, third)
        all_alive(producer, first, third)
        stop_ok(producer, first, third)
        consumed = second.at_kill.get(names.CONSUMER_RECORDS_CONSUMED, 0)
        print(f"second member killed -9 having consumed {consumed:.0f} records")
        assert " 0 duplicate events" in summary, summary
    finally:
        pipeline.kill_all()
