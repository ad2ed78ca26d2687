"""One assigned partition's life in the consumer: a state machine the service drives.

The service feeds a `Partition` events (records, the end of the partition, the clock's ticks, the
outcome of its jobs, the rebalance) and carries out the `Effects` each transition returns: start
a job on the executor, pause or resume fetching, seek. Nothing here touches Kafka or S3, and time
comes from an injected clock, so every transition is tested alone (tests/unit/test_partition.py).

States (at most one job per partition runs at any time: in the states marked *):
  RECOVERING*  assigned; the sink finds where it resumes (`chinook_consumer.positions`: from the object
               journal's intent, or the tables' positions); fetching paused
  FILLING      buffering records; nothing on its way to the sink
  REBUILDING   buffering exactly the journal's unfinished batch [start, end); no flush rule applies
  FLUSHING*    a batch on its way to the sink while the next one fills
  FULL*        a batch on its way and the next one at its limits; fetching paused (bounded memory)
  BACKING_OFF  finding the position or the batch failed; fetching paused until the retry time
  RETRYING*    the failed batch on its way again; fetching still paused
  CLOSED       revoked, lost, stopped or abandoned: nothing more happens

Transitions (`tick` is the one switch for the clock-driven ones):
  RECOVERING  -- position found -->  FILLING or REBUILDING                (resume; tables: seek)
  FILLING     -- a limit reached or a record past one; end of partition, exit_when_idle --> FLUSHING
  REBUILDING  -- the batch's last offset, a record past it, or the end of the partition --> FLUSHING
  FLUSHING    -- the next buffer reaches a limit, or refuses a record -->  FULL       (pause)
  FLUSHING, FULL, RETRYING -- batch durable -->  FILLING       (FULL, RETRYING, refused: resume)
  FLUSHING, FULL, RETRYING, RECOVERING -- failed -->  BACKING_OFF         (FLUSHING: pause)
  BACKING_OFF -- retry time -->  RETRYING (the batch) or RECOVERING (finding the position)
  any         -- lost, or abandoned at the shutdown deadline -->  CLOSED (nothing committed)
Leaving (revoked, or the service stopping) keeps these states, takes no more records, treats
every buffer as due, and ends in CLOSED once nothing is left: a revoked partition sends each
batch once and a failure closes it uncommitted; a stopping one retries until the service's
deadline. An incomplete REBUILDING batch is never flushed: the next owner rebuilds it.

Guarantees:
- A batch's end offset is committed only after `landed`, which the service calls only when the
  batch's objects are in S3 and its dead letters acknowledged; batches go out in offset order.
- Memory: at most two batches, the one on its way and the one filling, each within the flush
  limits (`chinook_consumer.intake`; a rebuilt one is the journal's): a record with no room is refetched.
- A permanent fault (access denied, a missing bucket) that outlasts the retry policy's window
  raises PipelineError from `failed`: the service exits with nothing more committed.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from confluent_kafka import OFFSET_BEGINNING, Message

from chinook_consumer.buffer import FlushLimits, PartitionBuffer
from chinook_consumer.dead_letters import DeadLetter
from chinook_consumer.intake import offer
from chinook_consumer.jobs import Batch, FindPosition, Flush, Job
from chinook_consumer.positions import Position
from chinook_shared.retry import Failures, RetryPolicy

log = logging.getLogger(__name__)


class State(Enum):
    RECOVERING = "recovering"
    FILLING = "filling"
    REBUILDING = "rebuilding"
    FLUSHING = "flushing"
    FULL = "full"
    BACKING_OFF = "backing-off"
    RETRYING = "retrying"
    CLOSED = "closed"


class Leaving(Enum):
    REVOKED = "revoked"  # each batch goes out once; a failure leaves it uncommitted
    STOPPING = "stopping"  # retried until the service's shutdown deadline


@dataclass(frozen=True)
class Rules:
    """What every partition of one consumer shares."""

    topic: str
    limits: FlushLimits
    policy: RetryPolicy
    clock: Callable[[], float]
    bucket_ms: int | None = None  # the buffer's time bucket (objects' key layout); None: tables
    exit_when_idle: bool = False


@dataclass(frozen=True)
class Effects:
    """What the service must do after a transition."""

    job: Job | None = None  # start it on the executor
    pause: bool = False
    resume: bool = False
    seek: int | None = None  # with `resume`: fetch from this offset (or OFFSET_BEGINNING)


NOTHING: Final = Effects()
RUNNING: Final = frozenset({State.RECOVERING, State.FLUSHING, State.FULL, State.RETRYING})
TAKING: Final = frozenset({State.FILLING, State.REBUILDING, State.FLUSHING})  # records taken


class Partition:
    def __init__(self, number: int, committed: int | None, rules: Rules) -> None:
        self.topic, self.number, self.committed = rules.topic, number, committed
        self._limits, self._bucket_ms = rules.limits, rules.bucket_ms
        self._exit_when_idle, self._clock = rules.exit_when_idle, rules.clock
        self.failures = Failures(rules.policy, rules.clock)
        self.leaving: Leaving | None = None
        self.state = State.RECOVERING
        self.next_offset: int | None = committed
        self.eof = False
        self.retry_at: float | None = None
        self._buffer = PartitionBuffer(self._bucket_ms)
        self._dead_letters: list[DeadLetter] = []
        self._forced_end: int | None = None
        self._batch: Batch | None = None  # on its way, or failed and waiting for its retry
        self._retry: Job | None = None  # what BACKING_OFF starts again
        self._missed = False  # records refused or received while paused: fetched again

    def __repr__(self) -> str:
        return f"{self.topic}[{self.number}]"

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        """Every transition lands here: the flags the per-record path reads follow the state."""
        self._state = state
        self._taking = state in TAKING and self.leaving is None
        self._rebuilding = state is State.REBUILDING

    @property
    def records(self) -> int:
        """Records held and not yet durable."""
        return self._buffer.count + (self._batch.buffer.count if self._batch else 0)

    @property
    def drained(self) -> bool:
        """At the end of the partition with everything durable (for `exit_when_idle`)."""
        return self.state is State.FILLING and self.eof and self._buffer.empty

    # --- events ------------------------------------------------------------------------------

    def start(self) -> Effects:
        """Just assigned (at the committed offset): pause, and find where it resumes."""
        return Effects(job=FindPosition(self.number, self.committed), pause=True)

    def recovered(self, resume: Position) -> Effects:
        """The position was found: start at the committed offset, rebuild the journal's batch, or
        seek to the tables' own position."""
        if self.state is State.CLOSED:
            return NOTHING  # revoked or stopped while finding it
        assert self.state is State.RECOVERING, self.state
        self.failures.succeeded()
        if resume.offset is not None:
            self.next_offset = resume.offset
        if resume.forced_end is not None:
            self._forced_end = resume.forced_end
            self.state = State.REBUILDING
            log.info(
                "%r: rebuilding unfinished batch [%d, %d) from the journal (committed %s)",
                self,
                resume.offset,
                resume.forced_end,
                self.committed,
            )
        else:
            self.state = State.FILLING
            log.info("%r: assigned, starting at %s", self, _offset(self.next_offset))
        if resume.seek and resume.offset is not None:
            self.eof = False  # the end must be reached again from there
            return Effects(resume=True, seek=resume.offset)
        return self._resume()

    def add(self, message: Message, now: float) -> Effects | None:
        """A record fetched for this partition (offsets increase, except after a seek); None when
        it is not taken: below the start, or paused or refused (fetched again later)."""
        offset: int = message.offset()
        if not self._taking:
            self._missed = self._state is not State.CLOSED
            return None
        if self.next_offset is not None and offset < self.next_offset:
            return None  # below the start, or already buffered before a seek
        if not self._rebuilding:
            return self._fill(message, offset, now)
        assert self._forced_end is not None
        if offset >= self._forced_end:  # a gap in the offsets: the batch is complete without it
            effects = self._end_rebuild()
            self._take(message, offset, now)
            return effects
        self._take(message, offset, now)
        return self._end_rebuild() if offset + 1 >= self._forced_end else NOTHING

    def end_of_partition(self) -> None:
        self.eof = True

    def tick(self) -> Effects:
        """The clock-driven transitions: flush rules, the end of a rebuild, back-pressure,
        retries, and what leaving finishes."""
        now = self._clock()
        match self.state:
            case State.FILLING:
                if not self._buffer.empty and self._due(now):
                    return self._send()
                if self.leaving is not None:
                    self.state = State.CLOSED
            case State.REBUILDING:
                if self.leaving is not None:
                    self.state = State.CLOSED  # incomplete: the next owner rebuilds it
                elif self.eof:
                    log.warning(
                        "%r ends before the journal's batch end %s: records are gone from the "
                        "log; flushing what is left",
                        self,
                        self._forced_end,
                    )
                    return self._end_rebuild()
            case State.FLUSHING:
                if self.leaving is None and self._full():
                    self.state = State.FULL
                    return Effects(pause=True)
            case State.BACKING_OFF:
                if now >= (self.retry_at or 0.0):
                    job, self._retry = self._retry, None
                    self.state = (
                        State.RECOVERING if isinstance(job, FindPosition) else State.RETRYING
                    )
                    return Effects(job=job)
            case State.RECOVERING | State.FULL | State.RETRYING | State.CLOSED:
                pass
        return NOTHING

    def landed(self, committed: int | None) -> Effects:
        """The batch on its way is durable (objects in S3, dead letters acknowledged) and its end
        offset was committed (`committed`), or the commit failed (None: the next commit of the
        partition covers it)."""
        assert self.state in (State.FLUSHING, State.FULL, State.RETRYING), self.state
        assert self._batch is not None
        if committed is not None:
            self.committed = committed
        if self.state is State.RETRYING:
            log.info("%r: batch uploaded after %d failures", self, self.failures.attempts)
        was, self._batch, self.retry_at = self.state, None, None
        self.failures.succeeded()
        self.state = State.FILLING
        if self.leaving is not None or (was is State.FLUSHING and not self._buffer.complete):
            return NOTHING
        return self._resume()

    def failed(self, error: BaseException) -> Effects:
        """The running job (finding the position, or the batch) failed: back off, or close when
        revoked.

        Raises PipelineError when a permanent fault has outlasted the retry policy's window.
        """
        if self.state is State.CLOSED:
            return NOTHING  # revoked or stopped while finding the position
        assert self.state in RUNNING, self.state
        if self.leaving is Leaving.REVOKED:
            self.state = State.CLOSED
            return NOTHING
        delay = self.failures.failed(error)
        if self.leaving is None and self.failures.exhausted():
            raise self.failures.give_up(self.operation)
        was = self.state
        self.retry_at = self._clock() + delay
        if was is State.RECOVERING:
            self._retry = FindPosition(self.number, self.committed)
        else:
            assert self._batch is not None
            self._retry = Flush(self.number, self._batch)
        self.state = State.BACKING_OFF
        return Effects(pause=was is State.FLUSHING)

    @property
    def operation(self) -> str:
        """The job the partition is running or retrying, for messages."""
        if self.state is State.RECOVERING or isinstance(self._retry, FindPosition):
            return f"finding the position of {self!r}"
        return f"uploading a batch of {self!r}"

    def revoke(self) -> Effects:
        """Revoked: what is buffered goes out once (see `tick`), then CLOSED."""
        return self._leave(Leaving.REVOKED)

    def stop(self) -> Effects:
        """The service is stopping: what is buffered goes out, retried until its deadline."""
        return self._leave(Leaving.STOPPING)

    def close(self) -> int:
        """Lost, or abandoned at the shutdown deadline: drop what is held, uncommitted (another
        member may own the partition already). The number of records held and not durable."""
        self.state = State.CLOSED
        return self.records

    # --- internals ---------------------------------------------------------------------------

    def _leave(self, how: Leaving) -> Effects:
        if self.state is State.CLOSED:
            return NOTHING
        self.leaving = how
        self._taking = False  # a leaving partition takes no more records
        if self.state is State.RECOVERING or isinstance(self._retry, FindPosition):
            self.state = State.CLOSED  # nothing buffered yet
        elif self.state is State.BACKING_OFF:
            self.retry_at = self._clock()  # one attempt now
        return NOTHING

    def _due(self, now: float) -> bool:
        return (
            self.leaving is not None
            or self._buffer.due(now, self._limits)
            or len(self._dead_letters) >= self._limits.records
            or (self._exit_when_idle and self.eof)
        )

    def _full(self) -> bool:
        limits = self._limits
        return (
            self._buffer.complete
            or self._buffer.count >= limits.records
            or self._buffer.size >= limits.bytes
            or len(self._dead_letters) >= limits.records
        )

    def _send(self) -> Effects:
        """Detach the buffer as the batch and send it on its way."""
        self._batch = Batch(self._buffer, self._dead_letters)
        self._buffer, self._dead_letters = PartitionBuffer(self._bucket_ms), []
        self._forced_end = None
        self.state = State.FLUSHING
        return Effects(job=Flush(self.number, self._batch))

    def _end_rebuild(self) -> Effects:
        if self._buffer.empty:
            self._forced_end = None
            self.state = State.FILLING
            return NOTHING
        return self._send()

    def _resume(self) -> Effects:
        """Fetch again from the next offset (the earliest when nothing is committed). The seek
        restarts fetching at once (after a bare resume librdkafka waits about a second) and
        fetches again what was dropped while paused."""
        if self._missed:
            self.eof = False  # the end must be reached again
        self._missed = False
        start = self.next_offset if self.next_offset is not None else OFFSET_BEGINNING
        return Effects(resume=True, seek=start)

    def _fill(self, message: Message, offset: int, now: float) -> Effects | None:
        """A record that does not fit cuts the buffer as a batch and starts the next one; with a
        batch on its way, it completes the buffer and, like every later one, is refused (None)."""
        buffer, limits = self._buffer, self._limits
        if not buffer.complete and offer(buffer, self._dead_letters, message, offset, now, limits):
            self.next_offset, self.eof = offset + 1, False
            return NOTHING
        if self._state is State.FLUSHING:  # fetched again once the batch on its way is durable
            buffer.complete = self._missed = True
            return None
        effects = self._send()
        self._take(message, offset, now)  # an empty batch takes any record
        return effects

    def _take(self, message: Message, offset: int, now: float) -> None:
        self.next_offset = offset + 1
        self.eof = False
        offer(self._buffer, self._dead_letters, message, offset, now, None)  # any record fits


def _offset(offset: int | None) -> str:
    return str(offset) if offset is not None else "the earliest offset"
