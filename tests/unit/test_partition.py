"""Every transition of a partition's state machine, with a fake clock: no broker, no S3.

Each row starts a partition (committed offset 0 unless said), drives it through `given` and then
one `event`, and checks the state it ends in and the effects of that last event.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME

from consumer.batcher import FlushLimits
from consumer.journal import Intent
from consumer.partition import NOTHING, Effects, Flush, Partition, ReadJournal, State
from shared.changes import Customer, CustomerChange, Operation
from shared.retry import RetryPolicy

T = 1_710_064_800_000  # 2024-03-10T10:00:00Z
LIMITS = FlushLimits(records=10, bytes=1_000, age=5.0)


class UpperBoundPolicy(RetryPolicy):
    """The policy without its jitter: every transient wait is its upper bound."""

    def delay(self, attempt: int, fault: Any, rng: Any = None) -> float:
        return super().delay(attempt, fault, lambda low, high: high)


POLICY = UpperBoundPolicy(base=0.5, cap=1.0, probe_interval=30.0, give_up_after=100.0)


def change(email: str = "e") -> bytes:
    message = CustomerChange(op=Operation.OPERATION_INSERT, sequence=1, customer_id=7)
    message.after.CopyFrom(Customer(customer_id=7, first_name="A", last_name="B", email=email))
    return message.SerializeToString()


VALUE = change()
BIG = change("e" * 1_000)  # over the byte limit on its own
SLOW_DOWN = ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "PutObject")
DENIED = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
RESET = ConnectionClosedError(endpoint_url="http://s3")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Record:
    """Stands in for confluent_kafka.Message."""

    at: int
    payload: bytes | None = VALUE

    def offset(self) -> int:
        return self.at

    def value(self) -> bytes | None:
        return self.payload

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, T

    def key(self) -> bytes:
        return b"7"

    def headers(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0


Step = Callable[[Partition, Clock], Any]


def records(start: int, count: int, payload: bytes | None = VALUE) -> Step:
    def step(p: Partition, clock: Clock) -> Effects | None:
        result: Effects | None = None
        for offset in range(start, start + count):
            effects = p.add(Record(offset, payload), clock.now)  # type: ignore[arg-type]
            result = effects if effects not in (None, NOTHING) else result or effects
        return result

    return step


def advance(seconds: float) -> Step:
    def step(p: Partition, clock: Clock) -> None:
        clock.now += seconds

    return step


def tick(p: Partition, clock: Clock) -> Effects:
    return p.tick()


def eof(p: Partition, clock: Clock) -> None:
    p.end_of_partition()


def recovered(intent: Intent | None = None) -> Step:
    return lambda p, clock: p.recovered(intent)


def landed(committed: int | None = None) -> Step:
    return lambda p, clock: p.landed(committed)


def failed(error: Exception = SLOW_DOWN) -> Step:
    return lambda p, clock: p.failed(error)


def revoke(p: Partition, clock: Clock) -> Effects:
    return p.revoke()


def stop(p: Partition, clock: Clock) -> Effects:
    return p.stop()


def close(p: Partition, clock: Clock) -> int:
    return p.close()


def start(p: Partition, clock: Clock) -> Effects:
    return p.start()


FILLING = [start, recovered()]
FLUSHING = [*FILLING, records(0, 10), tick]  # batch [0, 10) on its way
FULL = [*FLUSHING, records(10, 10), tick]
BACKING_OFF = [*FLUSHING, records(10, 3), failed()]
RETRYING = [*BACKING_OFF, advance(1.0), tick]
REBUILDING = [start, recovered(Intent(0, 20))]


def send(start: int, end: int, **flow: Any) -> tuple[Any, ...]:
    return ("flush", start, end, flow.get("pause", False), flow.get("resume", False), None)


def flow(pause: bool = False, resume: bool = False, seek: int | None = None) -> tuple[Any, ...]:
    return (None, None, None, pause, resume, seek)


def shape(effects: Any) -> Any:
    """Effects as a comparable tuple: (job, batch start, batch end, pause, resume, seek)."""
    if not isinstance(effects, Effects):
        return effects
    job: Any = effects.job
    if isinstance(job, Flush):
        head: tuple[Any, ...] = ("flush", job.batch.buffer.start, job.batch.buffer.end)
    elif isinstance(job, ReadJournal):
        head = ("journal", None, None)
    else:
        head = (None, None, None)
    return (*head, effects.pause, effects.resume, effects.seek)


def run(given: list[Step], event: Step, committed: int | None = 0, **options: Any) -> Any:
    clock = Clock()
    partition = Partition(
        "t",
        0,
        committed,
        LIMITS,
        "hive-hourly",
        POLICY,
        clock,
        options.get("exit_when_idle", False),
    )
    for step in given:
        step(partition, clock)
    return partition, clock, shape(event(partition, clock))


@dataclass(frozen=True)
class Row:
    name: str
    given: list[Step]
    event: Step
    state: State
    effects: Any  # shape() of the event's effects; None: a record not taken; int: records dropped
    exit_when_idle: bool = False
    committed: int | None = 0


TRANSITIONS = [
    Row(
        "assigned: pause, read the journal",
        [],
        start,
        State.RECOVERING,
        ("journal", None, None, True, False, None),
    ),
    Row(
        "no intent: start at the commit",
        [start],
        recovered(None),
        State.FILLING,
        flow(resume=True, seek=0),
    ),
    Row(
        "unfinished intent: rebuild it",
        [start],
        recovered(Intent(0, 20)),
        State.REBUILDING,
        flow(resume=True, seek=0),
    ),
    Row(
        "nothing committed: from the earliest offset",
        [start],
        recovered(None),
        State.FILLING,
        flow(resume=True, seek=OFFSET_BEGINNING),
        committed=None,
    ),
    Row(
        "records fetched while recovering are fetched again",
        [start, records(0, 3)],
        recovered(None),
        State.FILLING,
        flow(resume=True, seek=0),
    ),
    Row("journal read fails: back off", [start], failed(RESET), State.BACKING_OFF, flow()),
    Row("flush by count", [*FILLING, records(0, 10)], tick, State.FLUSHING, send(0, 10)),
    Row("flush by bytes", [*FILLING, records(0, 1, BIG)], tick, State.FLUSHING, send(0, 1)),
    Row("flush by age", [*FILLING, records(0, 1), advance(5.0)], tick, State.FLUSHING, send(0, 1)),
    Row("not yet due", [*FILLING, records(0, 9), advance(4.9)], tick, State.FILLING, flow()),
    Row(
        "dead letters count toward the record limit",
        [*FILLING, records(0, 10, b"\xff\xff")],
        tick,
        State.FLUSHING,
        send(0, 10),
    ),
    Row(
        "rebuild ends at its last offset",
        [*REBUILDING, records(0, 19)],
        records(19, 1),
        State.FLUSHING,
        send(0, 20),
    ),
    Row(
        "rebuild ends at a gap",
        [*REBUILDING, records(0, 15)],
        records(25, 1),
        State.FLUSHING,
        send(0, 15),
    ),
    Row(
        "no flush rule applies while rebuilding",
        [*REBUILDING, records(0, 15), advance(60)],
        tick,
        State.REBUILDING,
        flow(),
    ),
    Row(
        "rebuild ends at the end of the partition",
        [*REBUILDING, records(0, 5), eof],
        tick,
        State.FLUSHING,
        send(0, 5),
    ),
    Row(
        "next buffer full: pause", [*FLUSHING, records(10, 10)], tick, State.FULL, flow(pause=True)
    ),
    Row("batch durable", FLUSHING, landed(10), State.FILLING, flow()),
    Row("batch fails: pause and back off", FLUSHING, failed(), State.BACKING_OFF, flow(pause=True)),
    Row("full, batch durable: resume", FULL, landed(10), State.FILLING, flow(resume=True, seek=20)),
    Row(
        "full, records fetched meanwhile are fetched again",
        [*FULL, records(20, 2)],
        landed(10),
        State.FILLING,
        flow(resume=True, seek=20),
    ),
    Row("full, batch fails", FULL, failed(), State.BACKING_OFF, flow()),
    Row(
        "backing off until the retry time",
        [*BACKING_OFF, advance(0.5)],
        tick,
        State.BACKING_OFF,
        flow(),
    ),
    Row(
        "retry time: the same batch again",
        [*BACKING_OFF, advance(1.0)],
        tick,
        State.RETRYING,
        send(0, 10),
    ),
    Row(
        "retry time: the journal again",
        [start, failed(RESET), advance(1.0)],
        tick,
        State.RECOVERING,
        ("journal", None, None, False, False, None),
    ),
    Row(
        "retry durable: resume from the next offset",
        [*RETRYING, records(13, 5)],
        landed(10),
        State.FILLING,
        flow(resume=True, seek=13),
    ),
    Row("retry fails again", RETRYING, failed(), State.BACKING_OFF, flow()),
    Row("revoked while recovering", [start], revoke, State.CLOSED, flow()),
    Row(
        "revoked while rebuilding: left for the next owner",
        [*REBUILDING, records(0, 5), revoke],
        tick,
        State.CLOSED,
        flow(),
    ),
    Row(
        "revoked while uploading: the rest goes out once",
        [*FLUSHING, records(10, 3), revoke, landed(10)],
        tick,
        State.FLUSHING,
        send(10, 13),
    ),
    Row(
        "revoked while uploading: then closed",
        [*FLUSHING, revoke, landed(10)],
        tick,
        State.CLOSED,
        flow(),
    ),
    Row(
        "revoked while uploading: a failure closes it uncommitted",
        [*FLUSHING, revoke],
        failed(),
        State.CLOSED,
        flow(),
    ),
    Row(
        "revoked while backing off: one attempt now",
        [*BACKING_OFF, revoke],
        tick,
        State.RETRYING,
        send(0, 10),
    ),
    Row("revoked: no records taken", [*FILLING, revoke], records(0, 1), State.FILLING, None),
    Row("lost while uploading: dropped", [*FLUSHING, records(10, 3)], close, State.CLOSED, 13),
    Row("lost: a late outcome is ignored", [*FLUSHING, close], failed(), State.CLOSED, flow()),
    Row(
        "lost: a late journal read is ignored",
        [start, close],
        recovered(None),
        State.CLOSED,
        flow(),
    ),
    Row(
        "stopping: a failure is retried",
        [*FLUSHING, stop],
        failed(),
        State.BACKING_OFF,
        flow(pause=True),
    ),
    Row(
        "stopping: the buffer goes out though not due",
        [*FILLING, records(0, 1), stop],
        tick,
        State.FLUSHING,
        send(0, 1),
    ),
    Row(
        "shutdown deadline: abandoned uncommitted",
        [*BACKING_OFF, stop, advance(1.0), tick],
        close,
        State.CLOSED,
        13,
    ),
    Row("paused: records not taken", BACKING_OFF, records(13, 1), State.BACKING_OFF, None),
    Row(
        "below the start: not taken",
        [start, recovered(Intent(5, 9)), records(5, 4), tick],
        records(3, 1),
        State.FLUSHING,
        None,
    ),
    Row(
        "exit when idle: flush at the end",
        [*FILLING, records(0, 1), eof],
        tick,
        State.FLUSHING,
        send(0, 1),
        exit_when_idle=True,
    ),
]


@pytest.mark.parametrize("row", TRANSITIONS, ids=[row.name for row in TRANSITIONS])
def test_transition(row: Row) -> None:
    partition, _, result = run(
        row.given, row.event, row.committed, exit_when_idle=row.exit_when_idle
    )
    assert partition.state is row.state
    assert result == row.effects
