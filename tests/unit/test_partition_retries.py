"""A partition's retries under the policy (transient, permanent, give up), its memory bound and
the end of the partition, with a fake clock: no broker, no S3."""

import pytest

from chinook_consumer.partition import State
from chinook_shared.errors import PipelineError
from tests.unit.partition_steps import (
    BACKING_OFF,
    DENIED,
    FILLING,
    FLUSHING,
    FULL,
    LIMITS,
    RESET,
    RETRYING,
    Record,
    advance,
    eof,
    failed,
    flow,
    landed,
    records,
    run,
    send,
    shape,
    stop,
    tick,
)


def test_a_permanent_fault_is_probed_then_given_up_after_the_window() -> None:
    partition, clock, _ = run([*FLUSHING, failed(DENIED)], tick)
    assert partition.failures.failing and partition.retry_at == clock.now + 30.0
    for _ in range(3):  # probes every 30 s while the window (100 s) lasts
        clock.now = partition.retry_at or 0.0
        assert shape(partition.tick()) == send(0, 10)
        partition.failed(DENIED)
        assert partition.state is State.BACKING_OFF
    clock.now = partition.retry_at or 0.0
    partition.tick()
    with pytest.raises(PipelineError, match=r"uploading a batch of t\[0\].*AccessDenied"):
        partition.failed(DENIED)
    assert partition.committed == 0  # nothing committed past S3


def test_a_permanent_fault_that_clears_within_the_window_recovers() -> None:
    partition, clock, _ = run([*FLUSHING, failed(DENIED), advance(30.0), tick], landed(10))
    assert partition.state is State.FILLING and partition.committed == 10
    assert not partition.failures.failing and partition.failures.attempts == 0
    clock.now += 1_000.0  # a later fault starts a new window
    partition.add(Record(10), clock.now)  # type: ignore[arg-type]
    clock.now += LIMITS.age
    assert shape(partition.tick()) == send(10, 11)
    partition.failed(DENIED)
    assert partition.state is State.BACKING_OFF


def test_transient_faults_are_retried_for_as_long_as_they_last() -> None:
    partition, clock, _ = run(BACKING_OFF, tick)
    for _ in range(50):
        clock.now += 1_000.0
        assert shape(partition.tick()) == send(0, 10)
        partition.failed(RESET)
    assert partition.state is State.BACKING_OFF and partition.retry_at is not None
    assert partition.retry_at - clock.now <= 1.0  # the policy's cap


def test_a_stopping_partition_never_gives_up_its_deadline_is_the_services() -> None:
    partition, clock, _ = run([*FLUSHING, failed(DENIED), stop], tick)
    clock.now += 1_000.0
    partition.tick()
    partition.failed(DENIED)
    assert partition.state is State.BACKING_OFF


def test_memory_is_bounded_while_a_batch_is_on_its_way() -> None:
    partition, _, _ = run(FULL, records(20, 100))
    assert partition.records == 20  # the batch on its way and one full buffer, nothing more
    assert shape(partition.landed(10)) == flow(resume=True, seek=20)
    assert shape(partition.tick()) == send(10, 20)


def test_drained_only_at_the_end_with_everything_durable() -> None:
    partition, clock, _ = run([*FILLING, records(0, 2), eof], tick, exit_when_idle=True)
    assert not partition.drained  # the batch is on its way
    partition.landed(2)
    assert partition.drained and partition.committed == 2
    partition.add(Record(2), clock.now)  # type: ignore[arg-type]
    assert not partition.drained


def test_a_failed_commit_keeps_the_previous_committed_offset() -> None:
    partition, _, effects = run(FLUSHING, landed(None))
    assert effects == flow() and partition.committed == 0 and partition.state is State.FILLING


def test_records_fetched_after_a_seek_are_not_taken_twice() -> None:
    partition, _, _ = run([*RETRYING, records(13, 5), landed(10)], records(13, 2))
    assert partition.records == 5  # 10..14: the three buffered before the failure, then 13, 14
    assert partition.next_offset == 15
