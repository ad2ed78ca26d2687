"""`--flush-records` and `--flush-bytes` are exact limits: the rule alone, the partition's
transitions at a limit, and a partition driven through a random log whose batches must stay
within the limits, in offset order, with every record in exactly one batch."""

import random
from dataclasses import dataclass
from typing import Any

import pytest

from chinook_consumer.buffer import FlushLimits, fits
from chinook_consumer.jobs import Batch, Flush
from chinook_consumer.objects.keys import HOUR_MS
from chinook_consumer.partition import Effects, Partition, Rules, State
from chinook_consumer.positions import Position
from tests.unit.partition_steps import (
    BIG,
    FILLING,
    FLUSHING,
    POLICY,
    Clock,
    Record,
    Step,
    change,
    flow,
    landed,
    records,
    run,
    send,
    tick,
)


@pytest.mark.parametrize(
    ("count", "size", "value", "expected"),
    [
        (0, 0, 1, True),
        (9, 50, 10, True),  # the 10th record
        (10, 50, 10, False),  # an 11th would pass the record limit
        (5, 90, 10, True),  # exactly at the byte limit
        (5, 90, 11, False),  # one byte past it
        (0, 0, 500, True),  # larger than the byte limit: a batch of its own
        (1, 1, 500, False),
    ],
)
def test_fits(count: int, size: int, value: int, expected: bool) -> None:
    assert fits(count, size, value, FlushLimits(records=10, bytes=100, age=5.0)) is expected


POISON = b"\xff\xff"


@dataclass(frozen=True)
class Row:
    name: str
    given: list[Step]
    event: Step
    state: State
    effects: Any  # shape() of the event's effects; None: a record not taken


ROWS = [  # partition_steps.LIMITS: 10 records, 1,000 bytes; VALUE is 19 bytes, BIG 1,020
    Row(
        "the record past the count limit cuts the batch",
        [*FILLING, records(0, 10)],
        records(10, 1),
        State.FLUSHING,
        send(0, 10),
    ),
    Row(
        "the record past the byte limit cuts the batch",
        [*FILLING, records(0, 3)],
        records(3, 1, BIG),
        State.FLUSHING,
        send(0, 3),
    ),
    Row(
        "a record over the byte limit is a batch of its own",
        [*FILLING, records(0, 3), records(3, 1, BIG), landed(3)],
        tick,
        State.FLUSHING,
        send(3, 4),
    ),
    Row(
        "the dead letter past the count limit cuts the batch",
        [*FILLING, records(0, 10, POISON)],
        records(10, 1, POISON),
        State.FLUSHING,
        send(0, 10),
    ),
    Row(
        "a batch on its way: the record past the limit is refused",
        [*FLUSHING, records(10, 10)],
        records(20, 1),
        State.FLUSHING,
        None,
    ),
    Row(
        "refused once: every later record is refused, tombstones too",
        [*FLUSHING, records(10, 10), records(20, 1)],
        records(21, 1, None),
        State.FLUSHING,
        None,
    ),
    Row(
        "refused below the count limit: pause",
        [*FLUSHING, records(10, 3), records(13, 1, BIG)],
        tick,
        State.FULL,
        flow(pause=True),
    ),
    Row(
        "refused, and the batch durable before the pause: resume at the refused record",
        [*FLUSHING, records(10, 10), records(20, 1)],
        landed(10),
        State.FILLING,
        flow(resume=True, seek=20),
    ),
    Row(
        "refused, then the batch durable: the complete buffer goes out",
        [*FLUSHING, records(10, 10), records(20, 1), landed(10)],
        tick,
        State.FLUSHING,
        send(10, 20),
    ),
    Row(
        "nothing refused: the batch durable resumes nothing",
        [*FLUSHING, records(10, 9)],
        landed(10),
        State.FILLING,
        flow(),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_transition_at_a_limit(row: Row) -> None:
    partition, _, result = run(row.given, row.event)
    assert partition.state is row.state
    assert result == row.effects


class Driver:
    """Feeds a partition a log as the service and librdkafka would: polls of a few records,
    pauses honoured a little late, seeks, jobs that land at random moments."""

    def __init__(self, log: list[bytes | None], limits: FlushLimits, rng: random.Random) -> None:
        self.log, self.rng, self.clock = log, rng, Clock()
        rules = Rules("t", limits, POLICY, self.clock, HOUR_MS)
        self.partition = Partition(0, 0, rules)
        self.position, self.paused = 0, True
        self.job: Flush | None = None
        self.batches: list[Batch] = []
        self.partition.start()  # pauses and finds the position: the committed offset
        self.apply(self.partition.recovered(Position(None)))

    def apply(self, effects: Effects | None) -> None:
        if effects is None:
            return
        self.paused = (self.paused or effects.pause) and not effects.resume
        if effects.seek is not None:
            self.position = effects.seek
        if effects.job is not None:
            assert self.job is None, "a second job for the partition"
            assert isinstance(effects.job, Flush)
            self.job = effects.job

    def step(self) -> None:
        rng, partition = self.rng, self.partition
        # a paused partition may still get what was fetched before the pause
        polled = rng.randint(0, 2) if self.paused else rng.randint(0, 12)
        for _ in range(min(polled, len(self.log) - self.position)):
            value = self.log[self.position]
            self.apply(partition.add(Record(self.position, value), self.clock.now))  # type: ignore[arg-type]
            self.position += 1
        if self.job is not None and rng.random() < 0.3:
            batch, self.job = self.job.batch, None
            self.batches.append(batch)
            self.apply(partition.landed(batch.buffer.end))
        self.clock.now += rng.choice((0.0, 0.0, 1.0))
        self.apply(partition.tick())


@pytest.mark.parametrize("seed", range(20))
def test_random_logs_are_cut_exactly_and_consumed_once(seed: int) -> None:
    rng = random.Random(seed)
    limits = FlushLimits(records=7, bytes=300, age=5.0)
    kinds: list[bytes | None] = [change("e" * 40), change("e" * 120), BIG, None, POISON]
    log = [rng.choices(kinds, weights=(10, 4, 1, 1, 1))[0] for _ in range(400)]
    driver = Driver(log, limits, rng)
    for _ in range(20_000):
        if driver.partition.committed == len(log):
            break
        driver.step()
    assert driver.partition.committed == len(log)

    end = 0
    for batch in driver.batches:
        buffer = batch.buffer
        assert buffer.start == end, "batches are contiguous, in offset order"
        assert buffer.end is not None
        end = buffer.end
        stored = [o for group in buffer.time_groups() for o in group.offsets]
        wanted = range(buffer.start, buffer.end)
        assert sorted(stored) == [o for o in wanted if log[o] not in (None, POISON)]
        assert [d.offset for d in batch.dead_letters] == [o for o in wanted if log[o] == POISON]
        assert buffer.count <= limits.records
        assert buffer.size <= limits.bytes or buffer.count == 1
        assert len(batch.dead_letters) <= limits.records
    assert end == len(log)
