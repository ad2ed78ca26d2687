"""The settings of `chinook-pipeline dev`, defined once (see shared/settings.py); kept apart from
dev.py so the command line can list them without importing what `dev` runs."""

from dataclasses import dataclass
from pathlib import Path

from chinook_shared.bucket_name import BUCKET
from chinook_shared.kafka import TOPIC
from chinook_shared.settings import Settings, setting


@dataclass(frozen=True)
class DevSettings(Settings):
    db: Path = setting(Path("data/chinook.db"), help="Database to seed (if absent) and capture.")
    customers: int = setting(1000, min=1, help="Customers to seed when the database is created.")
    bucket_name: str = BUCKET.field(
        default="chinook-data", flag="bucket", help="Bucket on the local S3 server."
    )
    writes: bool = setting(True, help="Keep applying a small stream of changes.")
    write_rate: float = setting(5.0, min=0.1, max=10_000, help="Changes per second.")
    status_interval: float = setting(5.0, min=0.5, max=3600, help="Seconds between status lines.")
    flush_age: float = setting(2.0, min=0.05, max=3600, help="Consumer flush age in seconds.")
    duration: float | None = setting(None, min=0, help="Stop by itself after this many seconds.")
    topic: str = TOPIC.field()
