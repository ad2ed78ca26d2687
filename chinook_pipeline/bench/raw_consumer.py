"""The raw consume limit as a whole process: librdkafka alone, joining a group and committing.

`python -m chinook_pipeline.bench.raw_consumer PROPERTIES_JSON TOPIC FLUSH_RECORDS` subscribes to
TOPIC in the group of PROPERTIES_JSON (the consumer service's own librdkafka properties, built by
the bench), reads every assigned partition to its end with no processing, and commits offsets
when the service would: synchronously, for a partition, every FLUSH_RECORDS records (the
service's `--flush-records`) and at its end. It exits 0 once every assigned partition is read to
its end and committed, printing `{"messages": N, "join_seconds": S, "assigned_at": T}` (S: from
subscribing to the first assignment; T: the first assignment's wall-clock time, epoch seconds).
Only confluent_kafka is imported, so the process's wall time is the librdkafka floor of
`consumer --exit-when-idle`: interpreter start, group join, fetch, commits, leaving the group.
"""

import json
import sys
import time
from typing import Any


def consume(properties: dict[str, Any], topic: str, flush_records: int) -> dict[str, float]:
    """Messages read and seconds to join; raises RuntimeError on a consume or commit error."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(properties)
    assigned: set[int] = set()
    ended: set[int] = set()
    pending: dict[int, int] = {}  # partition -> records read since its last commit
    next_offset: dict[int, int] = {}
    joined: list[tuple[float, float]] = []  # when each assignment came: (monotonic, epoch)

    def on_assign(_consumer: Any, partitions: list[Any]) -> None:
        joined.append((time.monotonic(), time.time()))
        assigned.update(tp.partition for tp in partitions)

    def on_revoke(_consumer: Any, partitions: list[Any]) -> None:
        assigned.difference_update(tp.partition for tp in partitions)

    def commit(partition: int) -> None:
        answers = consumer.commit(
            offsets=[TopicPartition(topic, partition, next_offset[partition])], asynchronous=False
        )
        for answer in answers or ():
            if answer.error is not None:
                raise RuntimeError(f"commit of {topic}[{partition}]: {answer.error}")
        pending[partition] = 0

    count = 0
    subscribed = time.monotonic()
    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    try:
        while not assigned or not assigned <= ended:
            for message in consumer.consume(1000, 0.1):
                error, partition = message.error(), message.partition()
                if error is None:
                    count += 1
                    next_offset[partition] = message.offset() + 1
                    pending[partition] = pending.get(partition, 0) + 1
                    ended.discard(partition)
                    if pending[partition] >= flush_records:
                        commit(partition)
                elif error.code() == KafkaError._PARTITION_EOF:
                    ended.add(partition)
                    if pending.get(partition):
                        commit(partition)
                else:
                    raise RuntimeError(f"consume of {topic}: {error.str()}")
    finally:
        consumer.close()
    return {
        "messages": count,
        "join_seconds": joined[0][0] - subscribed,
        "assigned_at": joined[0][1],
    }


if __name__ == "__main__":
    properties_json, topic_name, flush = sys.argv[1:]
    print(json.dumps(consume(json.loads(properties_json), topic_name, int(flush))))
