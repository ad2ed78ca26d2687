"""Where a newly assigned partition resumes: the one answer both sinks give.

Objects find it from their journal and the committed offset (`chinook_consumer.objects.journal`), tables
from their snapshots (`chinook_consumer.tables.destination`); the partition's state machine acts on it
alone, whatever the sink.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Position:
    """Where a newly assigned partition resumes.

    `offset` None means the committed offset (or auto.offset.reset when there is none);
    `forced_end` set means: the first batch is exactly [offset, forced_end), whatever the flush
    rules say; `seek` means: fetch from `offset` whatever offset Kafka committed (the tables' own
    positions decide).
    """

    offset: int | None
    forced_end: int | None = None
    seek: bool = False


class Positions(Protocol):
    """A sink's answer to where a newly assigned partition resumes."""

    def find(self, partition: int, committed: int | None) -> Position:
        """Where `partition`, committed up to `committed` (None: nothing committed), resumes."""
        ...
