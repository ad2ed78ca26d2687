"""The acknowledged-prefix tracker: out-of-order acks, per-partition offsets, recovered messages."""

import pytest

from chinook_producer.ack_tracker import AckTracker


def test_prefix_advances_only_over_contiguous_acks() -> None:
    tracker = AckTracker(10, {})
    assert tracker.track_all([11, 12]) == frozenset()
    assert tracker.track_all([13, 14]) == frozenset()
    tracker.ack(13, 1, 0)
    tracker.ack(12, 0, 5)
    assert tracker.acked_seq == 10
    assert tracker.in_flight == 4
    tracker.ack(11, 0, 4)
    assert tracker.acked_seq == 13
    assert tracker.in_flight == 1
    assert tracker.partition_offsets() == {0: 6, 1: 1}
    tracker.ack(14, 1, 1)
    assert tracker.acked_seq == 14
    assert tracker.partition_offsets() == {0: 6, 1: 2}


def test_offsets_only_count_acks_within_the_prefix() -> None:
    tracker = AckTracker(0, {0: 3, 2: 7})
    tracker.track_all([1, 2])
    tracker.ack(2, 0, 9)  # beyond the prefix: must not move partition 0 yet
    assert tracker.partition_offsets() == {0: 3, 2: 7}
    tracker.ack(1, 2, 7)
    assert tracker.partition_offsets() == {0: 10, 2: 8}


def test_sequences_may_have_gaps() -> None:
    tracker = AckTracker(0, {})
    tracker.track_all([5, 9, 20])
    tracker.ack(9, 0, 0)
    tracker.ack(5, 0, 1)
    assert tracker.acked_seq == 9


def test_acknowledged_without_a_message_counts_for_the_prefix() -> None:
    tracker = AckTracker(0, {1: 4})
    tracker.track_all([1])
    tracker.track_all([2])
    tracker.ack(2)  # e.g. a dead letter: no partition, no offset
    tracker.ack(1, 1, 4)
    assert tracker.acked_seq == 2
    assert tracker.partition_offsets() == {1: 5}


def test_changes_found_in_the_topic_are_not_published_again() -> None:
    tracker = AckTracker(10, {0: 100}, published={12: (0, 101), 13: (1, 40)})
    assert tracker.track_all([11, 12, 13]) == {12, 13}
    assert tracker.acked_seq == 10
    tracker.ack(11, 0, 150)
    assert tracker.acked_seq == 13
    assert tracker.partition_offsets() == {0: 151, 1: 41}


def test_recovered_message_beyond_the_prefix_holds_back_its_partition_offset() -> None:
    # A previous run left seq 13 at offset 101 of partition 0; this run republished 11 at 150.
    # Until 13 is inside the prefix a recovery must still read partition 0 from 101.
    tracker = AckTracker(10, {0: 100}, published={13: (0, 101)})
    tracker.track_all([11, 12])
    tracker.ack(11, 0, 150)
    assert tracker.acked_seq == 11
    assert tracker.partition_offsets() == {0: 101}
    tracker.ack(12, 1, 0)
    assert tracker.track_all([13]) == {13}
    assert tracker.partition_offsets() == {0: 151, 1: 1}


def test_tracking_out_of_order_is_a_bug() -> None:
    tracker = AckTracker(5, {})
    with pytest.raises(ValueError, match="tracked after"):
        tracker.track_all([5])
