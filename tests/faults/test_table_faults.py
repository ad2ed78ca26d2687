"""kill -9 of the consumer writing Iceberg tables, at random instants (mid-batch, mid-commit,
between the change table's commit and the state table's), while the database keeps changing:
afterwards every change is in the change table exactly once and the state table equals the
database."""

import random
from pathlib import Path

import pytest

from chinook_pipeline.local import embedded
from shared import names
from tests.conftest import Cli
from tests.faults.processes import Pipeline, kill_repeatedly, start_writes
from tests.faults.test_faults import SEED, all_alive, assigned, publishing, stop_ok
from tests.table_cli import table_options, verify_tables_ok

pytestmark = pytest.mark.slow

SEEDED = 400
WRITES = 800
WRITE_SECONDS = 15.0
KILLS = 5
MAX_LIFETIME = 4.0  # an incarnation dies uniformly within this many seconds of working
BATCHES = ("--flush-records", "100", "--flush-age", "0.5")


def test_table_consumer_killed_at_random_instants(
    cli: Cli, broker: embedded.Broker, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", str(SEEDED))
    logs = tmp_path / "logs"
    logs.mkdir()
    options = (*table_options(tmp_path, bucket), *BATCHES)
    pipeline = Pipeline(
        cli, db, broker.bootstrap_servers, topic, bucket, logs, consumer_options=options
    )
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
        summary = verify_tables_ok(cli, db, tmp_path)
        assert " 0 duplicate events" in summary, summary
    finally:
        pipeline.kill_all()
