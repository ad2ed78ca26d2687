"""The consumer's settings, validated once: a bad value fails at start with a usable message."""

from dataclasses import dataclass

from consumer.formats import object_format
from consumer.formats.protobuf import GZIP_LEVEL
from shared.errors import PipelineError
from shared.kafka import KafkaSettings
from shared.s3 import S3Settings

LAYOUTS = ("hive-hourly", "year-month-day-hour", "entity-date")


@dataclass(frozen=True)
class ConsumerConfig:
    """Everything `run_consumer` needs. Sizes are bytes, durations seconds.

    Raises PipelineError on construction when a value cannot work.
    """

    kafka: KafkaSettings
    s3: S3Settings
    bucket: str
    prefix: str = ""
    topic: str = "chinook.customers"
    group_id: str = "chinook-s3-sink"
    layout: str = "hive-hourly"
    flush_records: int = 50_000
    flush_bytes: int = 16 * 1024 * 1024
    flush_age: float = 10.0
    format: str = "protobuf"
    compression: str | None = None  # None: the format's default
    gzip_level: int = GZIP_LEVEL
    upload_concurrency: int = 8
    multipart_threshold: int = 16 * 1024 * 1024
    multipart_chunksize: int = 8 * 1024 * 1024
    shutdown_timeout: float = 30.0
    dlq_topic: str | None = None
    exit_when_idle: bool = False

    def __post_init__(self) -> None:
        if not self.bucket:
            raise PipelineError("no bucket given: set --bucket / CHINOOK_BUCKET")
        if not self.topic:
            raise PipelineError("empty topic name: set --topic / CHINOOK_TOPIC")
        if not self.group_id:
            raise PipelineError("empty consumer group id: set --group-id / CHINOOK_GROUP_ID")
        if self.layout not in LAYOUTS:
            raise PipelineError(f"unknown layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        # raises on an unknown format or a compression the format does not offer
        object_format(self.format, self.compression, self.gzip_level)
        if not 0 <= self.gzip_level <= 9:
            raise PipelineError(f"gzip level {self.gzip_level} out of range: use 0..9")
        for name in ("flush_records", "flush_bytes", "upload_concurrency"):
            if getattr(self, name) < 1:
                raise PipelineError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("flush_age", "shutdown_timeout"):
            if getattr(self, name) <= 0:
                raise PipelineError(
                    f"--{name.replace('_', '-')} must be a positive number of seconds"
                )
        if self.multipart_chunksize < 5 * 1024 * 1024:
            raise PipelineError(
                "--multipart-chunksize must be at least 5MiB (the S3 minimum part size)"
            )
        if self.multipart_threshold < 1:
            raise PipelineError("--multipart-threshold must be at least 1 byte")

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.topic}.dlq"
