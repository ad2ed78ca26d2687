"""Kafka positions in Iceberg snapshot summaries: what a table already holds, per partition.

Every commit of the tables' committer records, in its snapshot summary, the next offset the table
expects for each topic partition, under the consumer group's name:
`chinook.position.<group>.<topic>.<partition>` = `<next offset>`. Positions are carried forward:
a commit copies every position the table knows and overwrites those of the partitions it covers,
so the current snapshot alone normally answers. Recovery still walks back through the ancestors
for each key, so a snapshot written by another engine (a manual delete, a foreign compaction)
costs a longer walk, never a lost position.

Pure functions over summaries (newest first); the tables and the maintenance tool adapt
pyiceberg snapshots to them.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

PREFIX: Final = "chinook.position."


def position_key(group: str, topic: str, partition: int) -> str:
    """The summary key of one partition's position for one consumer group."""
    return f"{PREFIX}{group}.{topic}.{partition}"


def carried(summaries: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Every position entry the table knows: for each key, the value in the newest summary
    (summaries newest first) that carries it. What the next commit must carry forward."""
    found: dict[str, str] = {}
    for summary in summaries:
        for key, value in summary.items():
            if key.startswith(PREFIX):
                found.setdefault(key, value)
    return found


def recover(summaries: Iterable[Mapping[str, str]], group: str, topic: str) -> dict[int, int]:
    """{partition: next offset} of one group and topic, each from the newest summary that
    records it; a partition the table never saw is absent."""
    stem = f"{PREFIX}{group}.{topic}."
    positions: dict[int, int] = {}
    for key, value in carried(summaries).items():
        suffix = key[len(stem) :] if key.startswith(stem) else ""
        if suffix.isdigit():
            positions[int(suffix)] = int(value)
    return positions


def advanced(
    known: Mapping[str, str], group: str, topic: str, next_offsets: Mapping[int, int]
) -> dict[str, str]:
    """The summary entries of a commit: every known position, with `next_offsets` over them.
    A position never moves back: an offset below the recorded one keeps the recorded one."""
    entries = dict(known)
    for partition, offset in next_offsets.items():
        key = position_key(group, topic, partition)
        entries[key] = str(max(offset, int(entries.get(key, "0"))))
    return entries


def snapshots_to_keep(ancestors: Sequence[tuple[int, Mapping[str, str]]]) -> set[int]:
    """The snapshot ids recovery needs, given the current snapshot's ancestors newest first as
    (snapshot id, summary): the current one and every ancestor down to the oldest that is the
    newest carrier of some position key. Expiring any other snapshot loses no position."""
    keep: set[int] = set()
    needed = set(carried(summary for _, summary in ancestors))
    for snapshot_id, summary in ancestors:
        keep.add(snapshot_id)
        needed -= set(summary)
        if not needed:
            break
    return keep
