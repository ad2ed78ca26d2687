"""The buffer: a partition's records waiting for a flush, and the flush rule (records, bytes or
age, whichever comes first).

The record and byte limits are exact: a record joins a batch only if the batch stays within both
(`fits`), so no batch holds more than `--flush-records` records or, unless it is a single larger
record, more than `--flush-bytes` value bytes.

Records are framed (shared.framing) into their time bucket's body as they arrive (the sink hands
the buffer its bucket length: the object key layout's, or none for tables): a batch holds one
growing bytes buffer per object-to-be instead of a Python object per record, which keeps both
the flush and the memory per buffered record small. Each record's offset and timestamp go into
two compact arrays beside it (16 bytes a record), which formats with per-row Kafka columns need.
"""

from array import array
from dataclasses import dataclass, field

from chinook_shared.framing import length_prefix


@dataclass(frozen=True)
class FlushLimits:
    records: int
    bytes: int
    age: float


def fits(count: int, size: int, value_size: int, limits: FlushLimits) -> bool:
    """Whether a batch of `count` records and `size` value bytes takes one more record of
    `value_size` bytes within the limits. An empty batch takes any record: one larger than
    `limits.bytes` forms a batch of its own."""
    return not count or (count < limits.records and size + value_size <= limits.bytes)


def should_flush(count: int, size: int, age: float, limits: FlushLimits) -> bool:
    """True once a batch holds `limits.records` records or `limits.bytes` value bytes, or its
    first record arrived `limits.age` seconds ago."""
    return count >= limits.records or size >= limits.bytes or age >= limits.age


@dataclass
class TimeGroup:
    """The records of a batch in one time bucket, in offset order: one object.

    `body` is the records' value bytes, framed, not yet compressed; `offsets` and `timestamps`
    (epoch milliseconds) are each record's Kafka coordinates, in the same order.
    """

    body: bytearray = field(default_factory=bytearray)
    offsets: "array[int]" = field(default_factory=lambda: array("q"))
    timestamps: "array[int]" = field(default_factory=lambda: array("q"))

    @property
    def count(self) -> int:
        return len(self.offsets)

    @property
    def first_offset(self) -> int:
        return self.offsets[0]

    @property
    def last_offset(self) -> int:
        return self.offsets[-1]

    @property
    def timestamp_ms(self) -> int:
        """The first record's timestamp: it dates the object's key."""
        return self.timestamps[0]


@dataclass
class PartitionBuffer:
    """The batch being built for one partition: offsets [start, end) and the records to write,
    grouped by time bucket of the record timestamp, `bucket_ms` long (None: one group, in offset
    order).

    A rejected record is covered (its offset moves `end`, so the commit passes it) but not stored.
    `complete`: a record did not fit, so nothing more joins it and it is due at once.
    """

    bucket_ms: int | None
    start: int | None = None
    end: int | None = None
    count: int = 0
    size: int = 0
    opened_at: float | None = None
    complete: bool = False
    groups: dict[int, TimeGroup] = field(default_factory=dict)  # time bucket -> its records

    def add(self, offset: int, timestamp_ms: int, value: bytes, now: float) -> None:
        """Store a record (offsets arrive in increasing order)."""
        if self.start is None:
            self.start, self.opened_at = offset, now
        self.end = offset + 1
        bucket = timestamp_ms // self.bucket_ms if self.bucket_ms else 0
        group = self.groups.get(bucket)
        if group is None:
            group = self.groups[bucket] = TimeGroup()
        group.offsets.append(offset)
        group.timestamps.append(timestamp_ms)
        body = group.body
        body += length_prefix(len(value))
        body += value
        self.count += 1
        self.size += len(value)

    def cover(self, offset: int, now: float) -> None:
        """Include `offset` in the batch's range without storing a record for it."""
        if self.start is None:
            self.start, self.opened_at = offset, now
        self.end = offset + 1

    def time_groups(self) -> list[TimeGroup]:
        """The batch's objects-to-be, in time order."""
        return [self.groups[bucket] for bucket in sorted(self.groups)]

    @property
    def empty(self) -> bool:
        return self.start is None

    def age(self, now: float) -> float:
        return 0.0 if self.opened_at is None else now - self.opened_at

    def due(self, now: float, limits: FlushLimits) -> bool:
        return not self.empty and (
            self.complete or should_flush(self.count, self.size, self.age(now), limits)
        )
