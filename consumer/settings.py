"""The consumer's settings: each option's definition (see shared/settings.py), checked once at
construction so a bad value fails at start with a usable message."""

from dataclasses import dataclass, field
from typing import Final

from chinook_consumer.buffer import FlushLimits
from chinook_consumer.objects.formats import FORMATS, object_format
from chinook_consumer.objects.formats.protobuf import GZIP_LEVEL
from chinook_shared.bucket_name import BUCKET
from chinook_shared.errors import PipelineError
from chinook_shared.iceberg.settings import CatalogSettings
from chinook_shared.kafka import TOPIC, KafkaSettings
from chinook_shared.retry import RetryPolicy
from chinook_shared.s3 import S3Settings
from chinook_shared.settings import Settings, non_empty, setting

MiB = 1024 * 1024
FLUSH_AGE_OBJECTS: Final = 10.0
FLUSH_AGE_TABLES: Final = 30.0  # each flush is a commit per table: see docs/tables.md#flush-age
GROUP_PROTOCOLS: Final = ("classic", "consumer")
# librdkafka refuses these with group.protocol=consumer: under KIP-848 the broker sets them.
CLASSIC_ONLY: Final = frozenset(
    {
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "partition.assignment.strategy",
        "group.protocol.type",
    }
)


@dataclass(frozen=True)
class ConsumerSettings(Settings):
    """Everything `run_consumer` needs. Sizes are bytes, durations seconds.

    Raises PipelineError on construction when a value cannot work.
    """

    kafka: KafkaSettings
    s3: S3Settings
    bucket: str | None = BUCKET.field(
        default=None,
        shown_default="required without --table",
        help="S3 bucket the objects go to.",
    )
    prefix: str = setting("", help="Key prefix inside the bucket.")
    topic: str = TOPIC.field()
    group_id: str = setting("chinook-s3-sink", help="Consumer group.", rule=non_empty)
    group_protocol: str = setting(
        "classic",
        choices=GROUP_PROTOCOLS,
        help="Group protocol: classic (cooperative-sticky, the session set here) or consumer "
        "(KIP-848: the broker assigns and sets the session; Kafka 4.0+).",
    )
    layout: str = setting(
        "hive-hourly",
        choices=("hive-hourly", "year-month-day-hour", "entity-date"),
        help="Key layout: dt=YYYY-MM-DD/hour=HH, year=/month=/day=/hour=, or customer/date=YYYY-MM-DD.",
    )
    flush_records: int = setting(
        50_000,
        min=1,
        max=10_000_000,
        help="Flush a partition's batch at this many records; with --table, also the most one "
        "commit takes (its memory).",
    )
    flush_bytes: int = setting(
        16 * MiB,
        min=1,
        size=True,
        help="... or at this many bytes (value bytes; same for a commit).",
    )
    flush_age: float | None = setting(
        None,
        min=0.05,
        max=86_400,
        shown_default=f"{FLUSH_AGE_OBJECTS:g} (objects), {FLUSH_AGE_TABLES:g} (--table)",
        help="... or this many seconds after its first record arrived.",
    )
    format: str = setting(
        "protobuf",
        choices=FORMATS,
        help="Object format: length-delimited Protobuf, or Parquet (columns from the descriptor).",
    )
    compression: str | None = setting(
        None,
        choices=("gzip", "zstd", "none"),
        shown_default="gzip for protobuf, zstd for parquet",
        help="Object compression.",
    )
    gzip_level: int = setting(GZIP_LEVEL, min=0, max=9, option=False)
    upload_concurrency: int = setting(
        8, min=1, max=64, help="Parallel uploads (objects and multipart parts)."
    )
    multipart_threshold: int = setting(
        16 * MiB,
        min=1,
        size=True,
        help="Objects at least this large go up as multipart uploads.",
    )
    multipart_chunksize: int = setting(
        8 * MiB, min=5 * MiB, size=True, help="Multipart part size (S3 minimum 5MiB)."
    )
    shutdown_timeout: float = setting(
        30.0,
        min=0,
        min_open=True,
        max=3600,
        help="Seconds SIGTERM may spend flushing before exiting without committing.",
    )
    dlq_topic: str | None = setting(
        None,
        shown_default="<topic>.dlq",
        help="Dead-letter topic for records that cannot be decoded.",
    )
    exit_when_idle: bool = setting(
        False,
        help="Exit 0 once the group holds every partition of the topic durably up to its end as "
        "of the start (uploaded and committed, or in the tables).",
    )
    give_up_after: float = setting(
        600.0,
        min=0,
        help="Exit non-zero once a permanent S3 fault (access denied, missing bucket) has lasted "
        "this many seconds, with nothing committed past S3 (0: never).",
    )
    unassigned_timeout: float = setting(
        60.0,
        min=0,
        min_open=True,
        help="Report degraded health (with --exit-when-idle: exit non-zero) once this member has "
        "owned no partition for this many seconds.",
    )
    held_timeout: float | None = setting(
        None,
        min=0,
        min_open=True,
        shown_default="6 session timeouts (60)",
        help="With --exit-when-idle: exit non-zero once this member's partitions are drained and "
        "those other members hold (a killed member's, until its session times out) have not "
        "moved toward their end for this many seconds.",
    )
    start_timeout: float = setting(
        60.0,
        min=0,
        help="At start, exit non-zero when S3 (the bucket) or the Iceberg catalog has not "
        "answered for this many seconds (0: wait forever); once they have, outages are waited "
        "out.",
    )
    table: str | None = setting(
        None,
        shown_default="objects",
        help="Write every change as a row of this Iceberg change table (NAMESPACE.NAME) "
        "instead of objects.",
    )
    state_table: str | None = setting(
        None,
        help="With --table: also keep this Iceberg state table (one row per live customer).",
    )
    catalog: CatalogSettings = field(default_factory=CatalogSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.state_table is not None and self.table is None:
            raise PipelineError("--state-table needs --table (the change table) as well")
        if self.bucket is None and self.table is None:
            raise PipelineError(
                "--bucket is required: the bucket the objects go to (or write Iceberg tables "
                "with --table)"
            )
        # raises on a compression the format does not offer (zstd is for Parquet only)
        object_format(self.format, self.compression, self.gzip_level)
        self._check_group_properties()

    def _check_group_properties(self) -> None:
        """The group protocol has one setting, and KIP-848 takes no client-side session."""
        extra = self.kafka.extra
        if "group.protocol" in extra:
            raise PipelineError(
                "--kafka-property group.protocol: choose the protocol with --group-protocol "
                f"({' or '.join(GROUP_PROTOCOLS)}) instead"
            )
        if self.group_protocol == "consumer":
            refused = sorted(CLASSIC_ONLY & extra.keys())
            if refused:
                raise PipelineError(
                    f"--kafka-property {', '.join(refused)}: not allowed with --group-protocol "
                    "consumer, where the broker sets the session and heartbeat "
                    "(group.consumer.session.timeout.ms, group.consumer.heartbeat.interval.ms) "
                    "and assigns the partitions (group.remote.assignor picks how): remove it or use "
                    "--group-protocol classic"
                )

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.topic}.dlq"

    @property
    def flush_seconds(self) -> float:
        """`flush_age`, or its default for the destination."""
        if self.flush_age is not None:
            return self.flush_age
        return FLUSH_AGE_TABLES if self.table else FLUSH_AGE_OBJECTS

    @property
    def flush_limits(self) -> FlushLimits:
        """When a partition's batch is flushed; with `--table`, also what one commit holds."""
        return FlushLimits(self.flush_records, self.flush_bytes, self.flush_seconds)


def retry_policy(settings: ConsumerSettings) -> RetryPolicy:
    """The policy of every S3 job. A permanent fault is probed at least once more right at the
    end of the give-up window, so the process exits about `give_up_after` seconds after it
    began (not up to a probe interval later)."""
    probe = RetryPolicy().probe_interval
    if settings.give_up_after:
        probe = min(probe, settings.give_up_after)
    return RetryPolicy(probe_interval=probe, give_up_after=settings.give_up_after)
