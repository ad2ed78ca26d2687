"""When `--exit-when-idle` may exit: the whole topic is durable, not only this member's share.

A member's own partitions being drained says nothing of the others: a member killed -9 holds
its partitions until its session times out, and a live member may hold records it has not
flushed yet. So the run reads every partition's end (its high watermark) when it begins, and
exits 0 only once the group's durable position on every partition has reached it: the committed
offsets for objects, the positions in the tables' snapshots for tables. A partition this member
owns counts once it is drained (at its end, with everything durable).

While others hold partitions short of their end, the member keeps running (a killed member's
partitions come back to it at the session timeout; a live owner drains its own), `degraded`
(health name `partitions`) naming them. Once their positions have not moved for `bound`
seconds while this member's own are drained, it gives up with one line listing them. (While it
owns none, the wait is `--unassigned-timeout`'s to bound: see `health/ownership.py`.)
"""

import logging
import math
from collections.abc import Callable, Collection, Mapping
from typing import Final

from confluent_kafka import Consumer, KafkaException, TopicPartition

from chinook_consumer.librdkafka import librdkafka_properties
from chinook_consumer.settings import ConsumerSettings
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.retry import classify

log = logging.getLogger(__name__)

CHECK_INTERVAL: Final = 0.5  # seconds between two readings of the others' positions (and the
# most a member whose share is drained exits after the last partition becomes durable)
HEALTH_NAME: Final = "partitions"
HELD_SESSIONS: Final = 6

Ends = Mapping[int, tuple[int, int]]
"""{partition: (low, high watermark)} as read when the run began."""
DurablePositions = Callable[[list[int]], Mapping[int, int | None]]
"""The group's durable positions (next offset) of these partitions; None where it has none."""


def topic_ends(consumer: Consumer, topic: str, timeout: float) -> dict[int, tuple[int, int]]:
    """Every partition's (low, high) watermarks, asked of the broker now."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        partitions = sorted(metadata.topics[topic].partitions)
        return {
            number: consumer.get_watermark_offsets(
                TopicPartition(topic, number), timeout=timeout, cached=False
            )
            for number in partitions
        }
    except KafkaException as error:
        raise PipelineError(
            f"cannot read the end offsets of topic {topic}: {error.args[0].str()}: check the broker"
        ) from None


def held_timeout(settings: ConsumerSettings) -> float:
    """How long `--exit-when-idle` waits for partitions other members hold without progress:
    `--held-timeout`, or six session timeouts (a killed member's come back after one)."""
    if settings.held_timeout is not None:
        return settings.held_timeout
    return HELD_SESSIONS * int(librdkafka_properties(settings)["session.timeout.ms"]) / 1000


class Completion:
    """Whether every partition of the topic is durable up to its end as of the start."""

    def __init__(
        self,
        ends: Ends,
        positions: DurablePositions,
        *,
        bound: float,
        clock: Callable[[], float],
        health: Health,
        topic: str,
        group: str,
    ) -> None:
        self._ends, self._positions, self._bound = ends, positions, bound
        self._clock, self._health, self._topic, self._group = clock, health, topic, group
        self._reached: set[int] = set()
        self._checked_at = -math.inf
        self._behind: dict[int, int | None] | None = None  # as last read
        self._since: float | None = None  # when `_behind` last changed
        self._reported = False

    def busy(self) -> None:
        """This member has partitions of its own to drain: it is not waiting for others."""
        self._checked_at, self._behind, self._since = -math.inf, None, None
        if self._reported:
            self._health.recover(HEALTH_NAME)
            self._reported = False

    def done(self, owned: Collection[int]) -> bool:
        """Whether every partition is at its end, given that those this member owns (`owned`)
        are drained. Reads the others' positions at most once per CHECK_INTERVAL.

        Raises PipelineError once partitions short of their end have not moved for the bound.
        """
        now = self._clock()
        others = [p for p in self._ends if p not in owned and p not in self._reached]
        if not others:
            self._finish()
            return True
        if now - self._checked_at < CHECK_INTERVAL:
            return False
        self._checked_at = now
        behind = self._read(others)
        if not behind:
            self._finish()
            return True
        if behind != self._behind or not owned:  # owning none: --unassigned-timeout's to bound
            if self._behind is None or behind.keys() != self._behind.keys():
                log.info("waiting: %s", self._describe(behind))
            self._behind, self._since = behind, now
        assert self._since is not None
        still = now - self._since
        if still >= self._bound:
            raise PipelineError(
                f"{self._describe(behind)}: none has moved for {still:.0f}s, so --exit-when-idle "
                "gives up with them not durable; run it again once their owners have drained "
                "them or are gone (a killed member's partitions come back after its session "
                "timeout); --held-timeout sets this wait"
            )
        self._health.degrade(
            HEALTH_NAME,
            f"{self._describe(behind)}; --exit-when-idle waits for them (up to "
            f"{self._bound:g}s without progress)",
        )
        self._reported = True
        return False

    def _read(self, others: list[int]) -> dict[int, int | None]:
        """{partition: durable position} of those of `others` short of their end; all of them
        (positions unknown) when the positions cannot be read now."""
        try:
            positions = self._positions(others)
        except Exception as error:  # read again at the next check
            log.warning(
                "reading the group's positions of partitions %s: %s", others, classify(error)
            )
            return dict.fromkeys(others)
        behind: dict[int, int | None] = {}
        for number in others:
            low, high = self._ends[number]
            position = positions.get(number)
            if max(low, position if position is not None else low) >= high:
                self._reached.add(number)
            else:
                behind[number] = position
        return behind

    def _describe(self, behind: Mapping[int, int | None]) -> str:
        where = ", ".join(
            f"{number}: {'none' if position is None else position}/{self._ends[number][1]}"
            for number, position in sorted(behind.items())
        )
        return (
            f"partitions {sorted(behind)} of topic {self._topic} are short of their end, held "
            f"by other members of group {self._group!r} or not assigned yet (durable "
            f"position/end: {where})"
        )

    def _finish(self) -> None:
        if self._reported:
            self._health.recover(HEALTH_NAME)
            self._reported = False
