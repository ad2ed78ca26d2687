"""Committing the end offsets of durable batches to the group.

Call only once each batch is durable in the sink and its dead letters are acknowledged
(`chinook_consumer.settle`): the committed offset is where a new owner starts.
"""

import logging
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from chinook_consumer import metrics
from chinook_consumer.jobs import Flush
from chinook_consumer.partition import Partition

log = logging.getLogger(__name__)


class OffsetCommits:
    """The offset commits of one topic's partitions."""

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self._consumer, self._topic = consumer, topic

    def commit(
        self, durable: Mapping[int, Flush], partitions: Mapping[int, Partition]
    ) -> dict[int, int]:
        """Synchronously commit each durable batch's end offset; the offsets committed.

        A failed commit is logged, not retried: the batch is durable and the next commit of the
        partition covers it; until then a new owner skips it through the journal (objects) or
        the tables' positions.
        """
        offsets = [
            TopicPartition(self._topic, p, job.batch.buffer.end)
            for p, job in durable.items()
            if job.batch.buffer.end is not None
        ]
        if not offsets:
            return {}
        try:
            answers = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as error:
            log.warning("offset commit failed (the batches are durable): %s", error.args[0].str())
            return {}
        committed: dict[int, int] = {}
        for answer in answers:
            if answer.error is not None:
                log.warning(
                    "offset commit of %s[%d] failed: %s",
                    self._topic,
                    answer.partition,
                    answer.error,
                )
                continue
            previous = partitions[answer.partition].committed
            if previous is None:
                previous = durable[answer.partition].batch.buffer.start or 0
            metrics.OFFSETS_COMMITTED.inc(max(0, answer.offset - previous))
            committed[answer.partition] = answer.offset
        return committed
