"""When `--exit-when-idle` may exit: every partition of the topic durable up to its end as of the
start, the ones other members hold included; past the bound without progress, one error line."""

import pytest

from chinook_consumer.completion import CHECK_INTERVAL, Completion
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health

ENDS = {0: (0, 100), 1: (0, 100), 2: (40, 40), 3: (0, 80)}  # 2: emptied by retention


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Group:
    """The group's durable positions, as the broker (or the tables) would answer them."""

    def __init__(self, **positions: int | None) -> None:
        self.positions = {int(key[1:]): value for key, value in positions.items()}
        self.asked: list[list[int]] = []

    def __call__(self, partitions: list[int]) -> dict[int, int | None]:
        self.asked.append(partitions)
        return {p: self.positions.get(p) for p in partitions}


def completion(group: Group, clock: Clock, health: Health, bound: float = 60.0) -> Completion:
    return Completion(
        ENDS,
        group,
        bound=bound,
        clock=clock,
        health=health,
        topic="chinook.customers",
        group="sink",
    )


def test_owning_every_partition_needs_no_reading() -> None:
    group, clock = Group(), Clock()
    assert completion(group, clock, Health()).done({0, 1, 2, 3})
    assert group.asked == []


def test_partitions_held_by_others_are_waited_for_with_degraded_health_naming_them() -> None:
    group, clock, health = Group(p0=100, p1=30, p3=None), Clock(), Health()
    done = completion(group, clock, health)
    assert not done.done({0})  # own partition 0 drained; 1 and 3 are short of their end
    _, body = health.report()
    assert body["status"] == "degraded"
    assert "partitions [1, 3] of topic chinook.customers" in str(body["reasons"])
    assert "1: 30/100, 3: none/80" in str(body["reasons"])
    assert group.asked == [[1, 2, 3]]
    assert not done.done({0})  # read again only after the interval
    assert len(group.asked) == 1
    group.positions.update({1: 100, 3: 80})  # their owner drained them, or we did after a rebalance
    clock.now += CHECK_INTERVAL
    assert done.done({0})
    assert group.asked[-1] == [1, 3]  # 2 (empty) and those reached are not asked again
    assert health.report()[1]["status"] == "ok"


def test_no_progress_past_the_bound_ends_with_one_line_listing_the_partitions() -> None:
    group, clock = Group(p1=30, p3=10), Clock()
    done = completion(group, clock, Health(), bound=60.0)
    assert not done.done({0, 2})
    for _ in range(50):
        clock.now += 1.0
        group.positions[3] += 1  # partition 3 moves: the wait starts over
        assert not done.done({0, 2})
    for _ in range(59):
        clock.now += 1.0
        assert not done.done({0, 2})
    clock.now += 1.0
    with pytest.raises(PipelineError) as raised:
        done.done({0, 2})
    message = str(raised.value)
    assert "partitions [1, 3] of topic chinook.customers" in message
    assert "group 'sink'" in message and "none has moved for 60s" in message
    assert "\n" not in message


def test_owning_none_leaves_the_bound_to_the_unassigned_timeout() -> None:
    group, clock, health = Group(), Clock(), Health()
    done = completion(group, clock, health, bound=10.0)
    for _ in range(30):  # e.g. a join that fails: Ownership says so, with its own bound
        clock.now += 1.0
        assert not done.done(set())
    assert "not assigned yet" in str(health.report()[1]["reasons"])
    clock.now += 1.0
    assert not done.done({0, 2})  # its first partitions drained: now the bound runs
    clock.now += 10.0
    with pytest.raises(PipelineError, match="none has moved for 10s"):
        done.done({0, 2})


def test_owning_work_again_restarts_the_wait() -> None:
    group, clock, health = Group(p1=0), Clock(), Health()
    done = completion(group, clock, health, bound=10.0)
    assert not done.done({0, 2, 3})
    clock.now += 9.0
    done.busy()  # partition 1 came to this member (its holder's session timed out)
    assert health.report()[1]["status"] == "ok"
    clock.now += 9.0
    assert not done.done({0, 2, 3})  # lost it again: a new wait, not one 18 s old
    clock.now += 9.0
    assert not done.done({0, 2, 3})


def test_positions_that_cannot_be_read_count_as_not_reached() -> None:
    clock = Clock()

    def broken(partitions: list[int]) -> dict[int, int | None]:
        raise TimeoutError("coordinator not available")

    done = Completion(ENDS, broken, bound=60.0, clock=clock, health=Health(), topic="t", group="g")
    assert not done.done({0})


def test_the_bound_defaults_to_six_session_timeouts() -> None:
    from chinook_consumer.completion import held_timeout
    from chinook_consumer.settings import ConsumerSettings
    from chinook_shared.kafka import KafkaSettings
    from chinook_shared.s3 import S3Settings

    def settings(extra: dict[str, str], bound: float | None = None) -> ConsumerSettings:
        kafka = KafkaSettings("localhost:1", extra=extra)
        return ConsumerSettings(kafka=kafka, s3=S3Settings(), bucket="chinook", held_timeout=bound)

    assert held_timeout(settings({})) == 60.0
    assert held_timeout(settings({"session.timeout.ms": "45000"})) == 270.0
    assert held_timeout(settings({}, 5.0)) == 5.0
