"""Every transition of a partition's state machine, with a fake clock: no broker, no S3.

Each row starts a partition (committed offset 0 unless said), drives it through `given` and then
one `event`, and checks the state it ends in and the effects of that last event.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING

from chinook_consumer.objects.journal import Intent
from chinook_consumer.partition import State
from tests.unit.partition_steps import (
    BACKING_OFF,
    BIG,
    FILLING,
    FLUSHING,
    FULL,
    REBUILDING,
    RESET,
    RETRYING,
    Step,
    advance,
    close,
    eof,
    failed,
    flow,
    landed,
    records,
    recovered,
    revoke,
    run,
    send,
    start,
    stop,
    tick,
)


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
        "assigned: pause, find the position",
        [],
        start,
        State.RECOVERING,
        ("position", None, None, True, False, None),
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
    Row("finding the position fails: back off", [start], failed(RESET), State.BACKING_OFF, flow()),
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
        "retry time: the position again",
        [start, failed(RESET), advance(1.0)],
        tick,
        State.RECOVERING,
        ("position", None, None, False, False, None),
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
    Row(
        "closed: the revocation at close() flushes nothing",
        [*FILLING, records(0, 3), close, revoke],
        tick,
        State.CLOSED,
        flow(),
    ),
    Row("lost: a late outcome is ignored", [*FLUSHING, close], failed(), State.CLOSED, flow()),
    Row(
        "lost: a late position is ignored",
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
