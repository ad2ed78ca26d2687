"""The producer's settings, as the command line builds them."""

from dataclasses import dataclass
from pathlib import Path

from shared.kafka import KafkaSettings


@dataclass(frozen=True)
class ProducerConfig:
    """Where to capture from, where to publish to, and how often to look."""

    db_path: Path
    kafka: KafkaSettings
    topic: str = "chinook.customers"
    partitions: int = 6  # used when the producer creates the topic
    batch_rows: int = 5000  # change rows read per SQLite query
    poll_interval: float = 0.05  # seconds between cheap PRAGMA data_version polls when idle
    checkpoint_interval: float = 1.0
    busy_timeout: float = 5.0  # seconds, sqlite busy timeout
    give_up_after: float = 600.0  # seconds a permanent fault may last while running (0: never)
    exit_when_idle: bool = False
