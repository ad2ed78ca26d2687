"""One record into a partition's filling batch: parsed once, checked against the flush limits,
stored.

The record and byte limits are exact (`consumer.batcher.fits`): the record that would pass one
does not join the batch but starts the next one, so no object, Parquet file or table commit holds
more than `--flush-records` records, nor more than `--flush-bytes` value bytes unless it is one
larger record. A tombstone adds nothing to a batch; a poison record adds a dead letter, and a
batch holds at most `--flush-records` of those too.
"""

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from consumer.batcher import FlushLimits, PartitionBuffer, fits
from consumer.dead_letters import DeadLetter
from consumer.poison import parse_change, reject
from shared.changes import CustomerChange

Parsed = tuple[bytes | None, CustomerChange | None, str | None]
"""(value, change, problem): a tombstone has no value; a poison record no change, but a problem."""


def parse(message: Message) -> Parsed:
    value = message.value()
    if value is None:
        return None, None, None
    change, problem = parse_change(value)
    return value, change, problem


def joins(
    buffer: PartitionBuffer, dead_letters: list[DeadLetter], record: Parsed, limits: FlushLimits
) -> bool:
    """Whether `record` joins the batch (`buffer` and `dead_letters`) within `limits`; never
    once the batch is `complete`."""
    value, change, _ = record
    if buffer.complete:
        return False
    if value is None:
        return True
    if change is None:
        return len(dead_letters) < limits.records
    return fits(buffer.count, buffer.size, len(value), limits)


def store(
    buffer: PartitionBuffer,
    dead_letters: list[DeadLetter],
    message: Message,
    record: Parsed,
    now: float,
) -> None:
    """Add `record` to the batch: a change to `buffer`, a poison record to `dead_letters` (its
    offset covered), a tombstone only covered."""
    value, change, problem = record
    offset: int = message.offset()
    if value is None:
        buffer.cover(offset, now)  # a tombstone carries no change
        return
    if change is None:
        dead_letters.append(reject(message, problem or "unusable record"))
        buffer.cover(offset, now)
        return
    kind, timestamp = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        timestamp = change.captured_at.ToMilliseconds()
    buffer.add(offset, timestamp, value, now)
