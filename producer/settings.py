"""The producer's settings: each option's definition (see shared/settings.py)."""

from dataclasses import dataclass
from pathlib import Path

from chinook_shared.kafka import TOPIC, KafkaSettings
from chinook_shared.settings import Settings, setting


@dataclass(frozen=True)
class ProducerSettings(Settings):
    """Where to capture from, where to publish to, and how often to look."""

    db_path: Path = setting(flag="db", help="SQLite database holding the Chinook Customer table.")
    kafka: KafkaSettings
    topic: str = TOPIC.field()
    partitions: int = setting(
        6, min=1, max=10_000, help="Partitions when the producer creates the topic."
    )
    batch_rows: int = setting(5000, min=1, max=1_000_000, help="Change rows read per SQLite query.")
    poll_interval: float = setting(
        0.05, min=0.001, max=60, help="Seconds between change checks when idle."
    )
    checkpoint_interval: float = 1.0
    busy_timeout: float = 5.0  # seconds, sqlite busy timeout
    exit_when_idle: bool = setting(
        False, help="Publish everything the database holds now, then exit 0."
    )
    give_up_after: float = setting(
        600.0,
        min=0,
        help="Seconds a permanent fault (the table missing) may last before the producer exits 1; "
        "0: never.",
    )
