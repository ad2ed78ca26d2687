"""The consumer's gauges: partitions owned, records buffered, lag per partition."""

from collections.abc import Iterable, Mapping
from contextlib import suppress

from confluent_kafka import Consumer, TopicPartition

from chinook_consumer import metrics
from chinook_consumer.partition import Partition


def update_gauges(consumer: Consumer, topic: str, partitions: Mapping[int, Partition]) -> None:
    metrics.ASSIGNED_PARTITIONS.set(len(partitions))
    metrics.BUFFERED_RECORDS.set(sum(p.records for p in partitions.values()))
    for number, partition in partitions.items():
        # cached=True: the high watermark carried in fetch responses (right on every broker,
        # unlike ListOffsets on Tansu).
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, number), cached=True)
        if high < 0:
            continue
        position = partition.next_offset if partition.next_offset is not None else low
        metrics.LAG.labels(partition=str(number)).set(max(0, high - max(position, 0)))


def forget_lag(partitions: Iterable[int]) -> None:
    for number in partitions:
        with suppress(KeyError):
            metrics.LAG.remove(str(number))
