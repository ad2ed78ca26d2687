"""The tools' settings, each defined once (see shared/settings.py); the commands in
chinook_pipeline/cli/main.py are generated from these dataclasses."""

from dataclasses import dataclass, field
from pathlib import Path

from chinook_consumer.objects import FORMATS
from chinook_pipeline.tools.bucket import BucketPolicy
from chinook_pipeline.tools.seed import DEFAULT_SEED
from chinook_shared.bucket_name import BUCKET
from chinook_shared.settings import Settings, setting
from chinook_shared.units import parse_duration


@dataclass(frozen=True)
class SeedSettings(Settings):
    db: Path = setting(help="SQLite database to create or extend.")
    customers: int = setting(1000, min=0, max=100_000_000, help="Synthetic customers to add.")
    seed: int = setting(DEFAULT_SEED, help="Random seed: the same seed gives the same customers.")


@dataclass(frozen=True)
class WriteSettings(Settings):
    db: Path = setting(help="SQLite database to change.")
    rate: float = setting(20.0, min=0.1, max=100_000, help="Changes per second.")
    duration: float | None = setting(
        None, min=0, shown_default="until stopped", help="Seconds to run."
    )
    seed: int = setting(7, help="Random seed.")


@dataclass(frozen=True)
class BucketSetupSettings(Settings):
    bucket: str = BUCKET.field(help="Bucket to create or bring up to date.")
    policy: BucketPolicy = field(default_factory=BucketPolicy)
    dry_run: bool = setting(False, help="Print what would change; change nothing.")


@dataclass(frozen=True)
class VerifySettings(Settings):
    db: Path = setting(help="SQLite database to compare with.")
    bucket: str = BUCKET.field(help="Bucket holding the objects.")
    prefix: str = setting(
        "", help="The consumer's --prefix: only its objects directly under it are read."
    )
    format: str = setting(
        "protobuf",
        choices=FORMATS,
        help="Check the consumer's Protobuf (.binpb[.gz]) or Parquet (.parquet) objects.",
    )


@dataclass(frozen=True)
class QuerySettings(Settings):
    bucket: str = BUCKET.field(default="chinook-data", help="Bucket holding the objects.")
    prefix: str = setting(
        "", help="The consumer's --prefix: only its objects directly under it are read."
    )
    format: str = setting(
        "parquet",
        choices=FORMATS,
        help="Query the consumer's Parquet (.parquet) or Protobuf (.binpb[.gz]) objects.",
    )
    output: str = setting(
        "table",
        choices=("table", "csv", "json"),
        help="A table for people; CSV or JSON lines for scripts.",
    )
    table: str | None = setting(
        None,
        shown_default="the objects",
        help="Read customer_changes from this Iceberg change table (NAMESPACE.NAME) instead of "
        "the objects (--bucket, --prefix and --format are then unused).",
    )
    state_table: str | None = setting(
        None,
        shown_default="derived from --table",
        help="With --table: read customers from this Iceberg state table (NAMESPACE.NAME).",
    )


@dataclass(frozen=True)
class TableVerifySettings(Settings):
    db: Path = setting(help="SQLite database to compare with.")
    table: str = setting(help="State table to compare with the database (NAMESPACE.NAME).")
    change_table: str | None = setting(
        None,
        shown_default="customer_changes beside --table",
        help="Change table to check for events stored twice (NAMESPACE.NAME).",
    )

    @property
    def changes(self) -> str:
        return self.change_table or f"{self.table.rpartition('.')[0]}.customer_changes"


@dataclass(frozen=True)
class MaintainSettings(Settings):
    older_than: str = setting(
        "1h",
        rule=parse_duration,
        help="Safety window: snapshots, orphan files and closed days younger than this are left "
        "alone (90s, 30m, 12h, 3d).",
    )
    dry_run: bool = setting(False, help="Print what would change; change nothing.")
