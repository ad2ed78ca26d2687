"""Which changes may be forgotten: the contiguous acknowledged prefix and where to resume reading.

Delivery reports arrive out of order across partitions. A change may be deleted from the capture
table only when it and every change before it are in the topic, so the checkpoint is the highest
sequence S such that every tracked sequence <= S is acknowledged. Alongside it, per partition,
the offset from which a recovery must read the topic to see every message of a change > S.
Changes are acknowledged one by one (`ack`) or a whole read at once (`ack_all`, what the
publisher does once every message of a read is delivered).
"""

from collections import deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

_UNACKED: Final[Mapping[int, int]] = MappingProxyType({})  # no acknowledgement for the sequence


class AckTracker:
    """Tracks the changes read from the capture table until they are acknowledged.

    Sequences must be tracked in increasing order (the order they are read and produced in).
    `published` holds the changes a recovery found already in the topic, as
    {sequence: (partition, offset)}: they are acknowledged when tracked and never re-published.
    """

    def __init__(
        self,
        acked_seq: int,
        partition_offsets: Mapping[int, int],
        published: Mapping[int, tuple[int, int]] | None = None,
    ) -> None:
        self._acked_seq = acked_seq
        self._next_offsets = dict(partition_offsets)
        self._pending: deque[int] = deque()
        # sequence -> {partition: highest offset} of the acknowledged messages it stands for
        self._acks: dict[int, Mapping[int, int] | None] = {}
        self._published = dict(published or {})
        self._last_tracked = acked_seq

    @property
    def acked_seq(self) -> int:
        """Every tracked change with a sequence <= this is acknowledged."""
        return self._acked_seq

    @property
    def in_flight(self) -> int:
        """Tracked changes not yet covered by the acknowledged prefix."""
        return len(self._pending)

    def track_all(self, seqs: Sequence[int]) -> frozenset[int]:
        """Start tracking `seqs` (increasing, as read); those already in the topic, which are
        acknowledged now. One call per read instead of one per change."""
        if not seqs:
            return frozenset()
        if seqs[0] <= self._last_tracked:
            raise ValueError(f"sequence {seqs[0]} tracked after {self._last_tracked}")
        self._last_tracked = seqs[-1]
        self._pending.extend(seqs)
        if not self._published:
            return frozenset()
        found = frozenset(seq for seq in seqs if seq in self._published)
        for seq in sorted(found):
            self.ack(seq, *self._published[seq])
        return found

    def ack(self, seq: int, partition: int | None = None, offset: int | None = None) -> None:
        """Record that `seq` is durable at (`partition`, `offset`), or needs no message (None)."""
        self._acks[seq] = None if partition is None or offset is None else {partition: offset}
        self._advance(seq)

    def ack_all(self, seqs: Sequence[int], offsets: Mapping[int, int]) -> None:
        """Record that every change of `seqs` (tracked, increasing) is durable, their messages at
        offsets up to `offsets` (partition -> highest offset). The offsets count once the last of
        them is inside the prefix, i.e. once all of them are."""
        if not seqs:
            return
        acks = self._acks
        acks.update(dict.fromkeys(seqs))
        acks[seqs[-1]] = offsets
        self._advance(seqs[0])

    def _advance(self, seq: int) -> None:
        """Move the prefix over every acknowledged change at its head, now that `seq` is."""
        pending = self._pending
        if not pending or pending[0] != seq:
            return  # the prefix cannot move: its head is still unacknowledged
        acks = self._acks
        next_offsets = self._next_offsets
        while pending:
            positions = acks.pop(pending[0], _UNACKED)
            if positions is _UNACKED:
                break
            self._acked_seq = pending.popleft()
            if positions:
                for partition, offset in positions.items():
                    if offset >= next_offsets.get(partition, 0):
                        next_offsets[partition] = offset + 1

    def partition_offsets(self) -> dict[int, int]:
        """Per partition, the offset from which every message of a change > acked_seq lies.

        1 + the highest offset acknowledged within the prefix, lowered to the offset of any
        message found by a recovery for a change beyond the prefix (messages of an earlier run
        precede this run's in each partition, whatever their sequence).
        """
        offsets = dict(self._next_offsets)
        for seq in [seq for seq in self._published if seq <= self._acked_seq]:
            del self._published[seq]
        for partition, offset in self._published.values():
            offsets[partition] = min(offsets.get(partition, offset), offset)
        return offsets
