"""Pausing, resuming and seeking one partition, including the seek librdkafka refuses at first.

librdkafka answers a seek with `_STATE` until a newly assigned partition's fetcher has started
(confluentinc/librdkafka#3959), which a partition whose start is found quickly can hit. Such a
partition stays paused, so that nothing is fetched from any other offset, and its seek is tried
again after the next poll until librdkafka takes it.
"""

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition


class Fetching:
    """Fetch control of the partitions of one topic, for the consumer's poll loop."""

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self._consumer, self._topic = consumer, topic
        self._seeks: dict[int, int] = {}  # paused until librdkafka accepts this seek

    @property
    def waiting(self) -> frozenset[int]:
        """Partitions paused until their seek is accepted."""
        return frozenset(self._seeks)

    def pause(self, number: int) -> None:
        self._seeks.pop(number, None)
        self._consumer.pause([TopicPartition(self._topic, number)])

    def resume(self, number: int, seek: int | None) -> None:
        """Fetch again, from `seek` when given (an offset or OFFSET_BEGINNING)."""
        where = TopicPartition(self._topic, number)
        self._consumer.resume([where])
        if seek is None:
            return
        try:
            self._consumer.seek(TopicPartition(self._topic, number, seek))
        except KafkaException as error:
            if error.args[0].code() != KafkaError._STATE:
                raise
            self._consumer.pause([where])
            self._seeks[number] = seek
            return
        self._seeks.pop(number, None)

    def retry(self) -> None:
        """Try the refused seeks again (after a poll, which lets the fetchers start)."""
        for number, seek in list(self._seeks.items()):
            self.resume(number, seek)

    def forget(self, number: int) -> None:
        """The partition is no longer ours."""
        self._seeks.pop(number, None)
