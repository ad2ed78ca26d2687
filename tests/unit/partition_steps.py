"""A partition driven step by step for the unit tests: a fake clock, fake records, the events as
steps, the usual starting states, and effects as comparable tuples."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError
from confluent_kafka import TIMESTAMP_CREATE_TIME

from chinook_consumer.buffer import FlushLimits
from chinook_consumer.jobs import FindPosition, Flush
from chinook_consumer.objects.journal import Intent, resume_point
from chinook_consumer.objects.keys import HOUR_MS
from chinook_consumer.partition import NOTHING, Effects, Partition, Rules
from chinook_shared.changes import Customer, CustomerChange, Operation
from chinook_shared.retry import RetryPolicy

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
    """The journal's intent found: the position it gives at the partition's committed offset."""
    return lambda p, clock: p.recovered(resume_point(p.committed, intent))


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
    elif isinstance(job, FindPosition):
        head = ("position", None, None)
    else:
        head = (None, None, None)
    return (*head, effects.pause, effects.resume, effects.seek)


def run(given: list[Step], event: Step, committed: int | None = 0, **options: Any) -> Any:
    clock = Clock()
    rules = Rules("t", LIMITS, POLICY, clock, HOUR_MS, options.get("exit_when_idle", False))
    partition = Partition(0, committed, rules)
    for step in given:
        step(partition, clock)
    return partition, clock, shape(event(partition, clock))
