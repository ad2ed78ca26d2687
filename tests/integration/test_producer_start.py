"""What the producer refuses or decides at start against a real Tansu broker: a missing or unusable
database, a locked one, an unreachable broker, and when a recovery snapshots."""

import sqlite3
import threading
from pathlib import Path

import pytest

from chinook_pipeline.local import embedded, kafka
from chinook_producer.capture_state import CaptureState
from chinook_producer.recovery import snapshot_reason, truncation_reason
from chinook_producer.service import run_producer
from chinook_producer.settings import ProducerSettings
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from tests.producer_runs import produce
from tests.unit.test_producer_capture import execute, make_db


def test_snapshot_decisions() -> None:
    fresh = CaptureState("s", 0, {}, None)
    used = CaptureState("s", 10, {0: 4, 2: 1}, "t")
    assert snapshot_reason(fresh, "t", 0) is None
    assert snapshot_reason(used, "t", 3) is None
    assert "no longer exists" in (snapshot_reason(used, "t", 0) or "")
    assert "lacking recorded partition" in (snapshot_reason(used, "t", 2) or "")
    assert "moves from topic" in (snapshot_reason(used, "u", 3) or "")
    assert truncation_reason({0: 4}, {}) is None
    assert truncation_reason({0: 4}, {0: 2}) == "partition 0 ends at offset 2, below 4"


def test_missing_database(tmp_path: Path, broker: kafka.Cluster, topic: str) -> None:
    db = tmp_path / "absent.db"
    with pytest.raises(
        PipelineError, match=r"not found: create it with `chinook-pipeline seed --db"
    ):
        produce(db, broker, topic)
    assert not db.exists()


def test_not_a_sqlite_file(tmp_path: Path, broker: kafka.Cluster, topic: str) -> None:
    db = tmp_path / "notes.db"
    db.write_text("hello, this is not a database " * 100)
    with pytest.raises(PipelineError, match="is not a SQLite database"):
        produce(db, broker, topic)


def test_missing_customer_table(tmp_path: Path, broker: kafka.Cluster, topic: str) -> None:
    db = tmp_path / "other.db"
    execute(db, "CREATE TABLE Invoice (InvoiceId INTEGER PRIMARY KEY)")
    with pytest.raises(PipelineError, match="has no Customer table"):
        produce(db, broker, topic)


def test_locked_database(tmp_path: Path, broker: kafka.Cluster, topic: str) -> None:
    db = make_db(tmp_path / "chinook.db")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PipelineError, match="stayed locked"):
            produce(db, broker, topic, busy_timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_unreachable_broker(tmp_path: Path, topic: str) -> None:
    db = make_db(tmp_path / "chinook.db")
    settings = ProducerSettings(
        db, KafkaSettings(f"127.0.0.1:{embedded.free_port()}"), topic=topic, exit_when_idle=True
    )
    with pytest.raises(PipelineError, match="cannot reach the Kafka broker"):
        run_producer(settings, Health(), threading.Event())
