"""Object keys: where a batch's records land in the bucket.

Keys are a function of the records only (topic, partition, first offset, record timestamp), never
of the wall clock, so replaying the same records rewrites the same keys instead of adding copies.
The date comes from the Kafka message timestamp, which the producer sets to the change's capture
time (UTC).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
ENTITY: Final = "customer"
OFFSET_DIGITS: Final = 20


def bucket_ms(layout: str) -> int:
    """The length of a time bucket: a day for `entity-date`, an hour otherwise."""
    return DAY_MS if layout == "entity-date" else HOUR_MS


@dataclass(frozen=True)
class Keys:
    """The object keys of one topic's records: a layout under a prefix."""

    layout: str
    prefix: str
    topic: str

    def key(self, partition: int, first_offset: int, timestamp_ms: int, extension: str) -> str:
        return object_key(
            self.layout, self.prefix, self.topic, partition, first_offset, timestamp_ms, extension
        )


def object_key(
    layout: str,
    prefix: str,
    topic: str,
    partition: int,
    first_offset: int,
    timestamp_ms: int,
    extension: str,
) -> str:
    """The key of the object whose records start at `first_offset`, dated by `timestamp_ms`."""
    when = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    name = f"{topic}+{partition}+{first_offset:0{OFFSET_DIGITS}d}.{extension}"
    if layout == "hive-hourly":
        folders: Sequence[str] = (topic, f"dt={when:%Y-%m-%d}", f"hour={when:%H}")
    elif layout == "year-month-day-hour":
        folders = (
            topic,
            f"year={when:%Y}",
            f"month={when:%m}",
            f"day={when:%d}",
            f"hour={when:%H}",
        )
    elif layout == "entity-date":
        folders = (ENTITY, f"date={when:%Y-%m-%d}")
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return join_key(prefix, *folders, name)


def join_key(prefix: str, *parts: str) -> str:
    """`prefix/part/part`, without a leading slash when the prefix is empty."""
    head = prefix.strip("/")
    return "/".join([head, *parts] if head else parts)
