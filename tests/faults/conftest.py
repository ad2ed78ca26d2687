"""The fixture of every fault scenario: a seeded database, topic, bucket and log directory."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from tests.conftest import Cli
from tests.faults.processes import Pipeline
from tests.faults.scenario import SEEDED, SMALL_BATCHES


@pytest.fixture()
def object_format() -> str:
    """The consumers' --format (a scenario parametrized on it runs once per format)."""
    return "protobuf"


@pytest.fixture()
def pipeline(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path, object_format: str
) -> Iterator[Pipeline]:
    """Seeded database, topic and bucket of one scenario; every process it starts dies with it."""
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", str(SEEDED))
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Pipeline(
        cli,
        db,
        broker.bootstrap_servers,
        topic,
        bucket,
        logs,
        object_format=object_format,
        consumer_options=SMALL_BATCHES,
    )
    try:
        yield running
    finally:
        running.kill_all()
