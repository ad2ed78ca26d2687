"""Per-partition buffering and the one flush rule (records, bytes or age, whichever comes first)."""

from dataclasses import dataclass, field
from typing import NamedTuple


class Record(NamedTuple):
    """One accepted Kafka record: offset, message timestamp (ms, UTC) and value bytes."""

    offset: int
    timestamp_ms: int
    value: bytes


@dataclass(frozen=True)
class FlushLimits:
    records: int
    bytes: int
    age: float


def should_flush(count: int, size: int, age: float, limits: FlushLimits) -> bool:
    """True once a batch holds `limits.records` records or `limits.bytes` value bytes, or its
    first record arrived `limits.age` seconds ago."""
    return count >= limits.records or size >= limits.bytes or age >= limits.age


@dataclass
class PartitionBuffer:
    """The batch being built for one partition: offsets [start, end) and the records to write.

    A rejected record is covered (its offset moves `end`, so the commit passes it) but not stored.
    """

    records: list[Record] = field(default_factory=list)
    start: int | None = None
    end: int | None = None
    size: int = 0
    opened_at: float | None = None

    def add(self, record: Record, now: float) -> None:
        self.cover(record.offset, now)
        self.records.append(record)
        self.size += len(record.value)

    def cover(self, offset: int, now: float) -> None:
        """Include `offset` in the batch's range without storing a record for it."""
        if self.start is None:
            self.start, self.opened_at = offset, now
        self.end = offset + 1

    @property
    def empty(self) -> bool:
        return self.start is None

    def age(self, now: float) -> float:
        return 0.0 if self.opened_at is None else now - self.opened_at

    def due(self, now: float, limits: FlushLimits) -> bool:
        return not self.empty and should_flush(len(self.records), self.size, self.age(now), limits)
