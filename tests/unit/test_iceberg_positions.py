"""Kafka positions in snapshot summaries: recovery, carrying forward, what expiry must keep."""

from chinook_shared.iceberg.positions import (
    advanced,
    carried,
    position_key,
    recover,
    snapshots_to_keep,
)

G, T = "sink", "chinook.customers"


def key(partition: int, group: str = G, topic: str = T) -> str:
    return position_key(group, topic, partition)


def test_the_key_names_group_topic_and_partition() -> None:
    assert key(3) == "chinook.position.sink.chinook.customers.3"


def test_recovery_walks_back_until_each_partition_is_found() -> None:
    newest_first = [
        {"operation": "append"},  # a foreign snapshot without positions
        {key(1): "40", "other": "x"},
        {key(0): "12", key(1): "30"},
        {key(0): "5", key(2): "7"},
    ]
    assert recover(newest_first, G, T) == {0: 12, 1: 40, 2: 7}


def test_recovery_keeps_groups_and_topics_apart() -> None:
    summary = {key(0): "1", key(0, group="other"): "2", key(0, topic="chinook.other"): "3"}
    assert recover([summary], G, T) == {0: 1}
    assert recover([summary], "other", T) == {0: 2}
    assert recover([{}], G, T) == {}


def test_a_commit_carries_every_known_position_forward() -> None:
    known = carried([{key(1): "40"}, {key(0): "12", key(1): "30", key(0, "g2"): "9"}])
    assert known == {key(1): "40", key(0): "12", key(0, "g2"): "9"}
    entries = advanced(known, G, T, {0: 20, 3: 4})
    assert entries == {key(0): "20", key(1): "40", key(3): "4", key(0, "g2"): "9"}


def test_a_position_never_moves_back() -> None:
    assert advanced({key(0): "20"}, G, T, {0: 15}) == {key(0): "20"}


def test_expiry_keeps_the_current_snapshot_when_it_carries_every_position() -> None:
    ancestors = [(5, {key(0): "9", key(1): "4"}), (4, {key(0): "8", key(1): "4"}), (3, {})]
    assert snapshots_to_keep(ancestors) == {5}


def test_expiry_keeps_the_lineage_down_to_the_newest_carrier_of_each_position() -> None:
    ancestors = [
        (9, {"operation": "delete"}),  # foreign, on top
        (8, {key(0): "9"}),
        (7, {key(1): "4"}),  # the newest snapshot that knows partition 1
        (6, {key(0): "3", key(1): "2"}),
    ]
    assert snapshots_to_keep(ancestors) == {9, 8, 7}
    assert snapshots_to_keep([(1, {})]) == {1}
    assert snapshots_to_keep([]) == set()
