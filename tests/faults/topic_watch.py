"""How long the producer stalled during a broker fault, seen from the topic: a reader of every
partition that notes, for each record, how long after its capture in SQLite (the record's
timestamp) it became readable, and per partition the longest gap between records.

With the database changing at a steady rate, both figures are small in normal running; the
longest delay is the longest any change waited to be acknowledged by `acks=all` (the producer
looks for changes every 50 ms). The reader refreshes its metadata every second and
gives up on a hung broker after 5 s, so its own failover adds little to what it measures.
"""

import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.faults.audit import partitions_of


@dataclass
class Stall:
    """The figures of one watch: the longest capture-to-readable delay (and when that record was
    captured), and the longest gap between two records of one partition (and when it ended)."""

    records: int = 0
    longest_delay: float = 0.0
    delayed_at: float = 0.0  # wall-clock time of the longest-delayed change's capture
    longest_gap: float = 0.0
    gap_ended_at: float = 0.0
    last_seen: dict[int, float] = field(default_factory=dict)  # partition: when it last had one
    newest: dict[int, float] = field(default_factory=dict)  # partition: newest capture time read

    def saw(self, partition: int, captured_ms: int, now: float) -> None:
        self.records += 1
        delay = now - captured_ms / 1000
        if delay > self.longest_delay:
            self.longest_delay, self.delayed_at = delay, captured_ms / 1000
        previous = self.last_seen.get(partition)
        if previous is not None and now - previous > self.longest_gap:
            self.longest_gap, self.gap_ended_at = now - previous, now
        self.last_seen[partition] = now
        self.newest[partition] = max(self.newest.get(partition, 0.0), captured_ms / 1000)

    def describe(self, since: float) -> str:
        """One line; times relative to `since` (the fault's wall-clock time)."""
        return (
            f"longest capture-to-readable delay {self.longest_delay:.1f}s (a change captured "
            f"{self.delayed_at - since:+.1f}s from the fault), longest gap between records of a "
            f"partition {self.longest_gap:.1f}s (ended {self.gap_ended_at - since:+.1f}s from the "
            f"fault), {self.records} records"
        )


class TopicWatch:
    """Reads `topic` from its beginning on a thread until `stop()`; `stall` fills in as it goes,
    from the changes captured after `start()` only."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.stall = Stall()
        self._partitions = partitions_of(bootstrap_servers, topic)
        self._topic = topic
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"chinook-watch-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 50,
                "topic.metadata.refresh.interval.ms": 1000,
                "socket.timeout.ms": 5000,
            }
        )
        self._since_ms = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topic-watch", daemon=True)

    def start(self) -> "TopicWatch":
        self._since_ms = time.time() * 1000
        assigned = [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in self._partitions]
        self._consumer.assign(assigned)
        self._thread.start()
        return self

    def resumed(self, since: float) -> bool:
        """Every partition has taken a change captured after the wall-clock time `since`."""
        newest = self.stall.newest
        return all(newest.get(p, 0.0) > since for p in self._partitions)

    def stop(self) -> Stall:
        self._done.set()
        self._thread.join(30)
        self._consumer.close()
        return self.stall

    def _run(self) -> None:
        while not self._done.is_set():
            for message in self._consumer.consume(500, 0.1):
                captured_ms = message.timestamp()[1]
                if message.error() is None and captured_ms >= self._since_ms:
                    self.stall.saw(message.partition(), captured_ms, time.time())
