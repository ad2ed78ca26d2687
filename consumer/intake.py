"""One record into a partition's filling batch, parsed once and checked against the flush limits.

The record and byte limits are exact (`chinook_consumer.buffer.fits`): the record that would pass one
does not join the batch but starts the next one, so no object, Parquet file or table commit holds
more than `--flush-records` records, nor more than `--flush-bytes` value bytes unless it is one
larger record. A tombstone adds nothing to a batch; a poison record adds a dead letter, and a
batch holds at most `--flush-records` of those too. This runs for every record: one call.
"""

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from chinook_consumer.buffer import FlushLimits, PartitionBuffer, fits
from chinook_consumer.dead_letters import DeadLetter
from chinook_consumer.poison import parse_change, reject


def offer(
    buffer: PartitionBuffer,
    dead_letters: list[DeadLetter],
    message: Message,
    offset: int,
    now: float,
    limits: FlushLimits | None,
) -> bool:
    """Add the record at `offset` to the batch (`buffer` and `dead_letters`) unless it would pass
    `limits` (None: whatever they are, for a rebuilt batch); whether it was added. A change goes
    to `buffer`, a poison record to `dead_letters` (its offset covered), a tombstone is covered."""
    value = message.value()
    if value is None:
        buffer.cover(offset, now)  # a tombstone carries no change
        return True
    change, problem = parse_change(value)
    if change is None:
        if limits is not None and len(dead_letters) >= limits.records:
            return False
        dead_letters.append(reject(message, problem or "unusable record"))
        buffer.cover(offset, now)
        return True
    if limits is not None and not fits(buffer.count, buffer.size, len(value), limits):
        return False
    kind, timestamp = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        timestamp = change.captured_at.ToMilliseconds()
    buffer.add(offset, timestamp, value, now)
    return True
