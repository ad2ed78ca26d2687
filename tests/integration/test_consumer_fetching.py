"""Fetch control on a real broker: librdkafka refuses a seek right after assignment
(`_STATE`); the partition then stays paused and the seek is retried until it is taken, so the
first record fetched is the one sought, never one from the committed offset before it."""

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chinook_consumer.fetching import Fetching
from chinook_pipeline.local import kafka
from tests.conftest import wait_for

RECORDS = 10
SOUGHT = 5


ATTEMPTS = 5  # fresh consumers tried until librdkafka refuses the seek (it nearly always does)


@pytest.fixture()
def assigned(broker: kafka.Cluster, topic: str) -> Iterator[Callable[[], Consumer]]:
    """Consumers of `topic` (one partition holding RECORDS records), each assigned paused as
    the service assigns, nothing committed."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, -1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for offset in range(RECORDS):
        producer.produce(topic, str(offset).encode(), partition=0)
    assert producer.flush(30) == 0
    consumers: list[Consumer] = []

    def new() -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap_servers,
                "group.id": f"fetching-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        consumers.append(consumer)
        consumer.assign([TopicPartition(topic, 0, OFFSET_INVALID)])
        consumer.pause([TopicPartition(topic, 0)])
        return consumer

    yield new
    for consumer in consumers:
        consumer.close()


def refused(assigned: Callable[[], Consumer], topic: str) -> tuple[Consumer, Fetching]:
    """A newly assigned consumer whose seek to SOUGHT librdkafka refused."""
    for _ in range(ATTEMPTS):
        consumer = assigned()
        fetching = Fetching(consumer, topic)
        fetching.resume(0, SOUGHT)
        if fetching.waiting == {0}:
            return consumer, fetching
    raise AssertionError(f"librdkafka took the seek at once {ATTEMPTS} times: retry untested")


def test_a_refused_seek_keeps_the_partition_paused_and_is_retried(
    assigned: Callable[[], Consumer], topic: str
) -> None:
    consumer, fetching = refused(assigned, topic)
    fetched: list[Message] = []

    def past_the_end() -> bool:
        fetched.extend(m for m in consumer.consume(100, 0.2) if m.error() is None)
        fetching.retry()
        return bool(fetched) and fetched[-1].offset() == RECORDS - 1

    wait_for(past_the_end, "the sought records")
    assert [m.offset() for m in fetched] == list(range(SOUGHT, RECORDS))
    assert not fetching.waiting


def test_a_pause_drops_the_refused_seek(assigned: Callable[[], Consumer], topic: str) -> None:
    consumer, fetching = refused(assigned, topic)
    fetching.pause(0)
    assert not fetching.waiting
    for _ in range(10):
        fetching.retry()
        assert not [m for m in consumer.consume(100, 0.1) if m.error() is None]
