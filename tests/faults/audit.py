"""Independent checks of what the pipeline claims: committed offsets against the records S3 holds,
and the records of a topic (such as the dead-letter topic) counted to its end.

Read from the broker and straight from S3 (never through a fault proxy)."""

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from chinook_pipeline.tools.verify import is_journal_key

EOF_TIMEOUT = 60.0


def partitions_of(bootstrap_servers: str, topic: str) -> list[int]:
    """The topic's partitions ([] when it does not exist)."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "chinook-fault-audit"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        return sorted(metadata.partitions)
    finally:
        consumer.close()


def committed_offsets(bootstrap_servers: str, group: str, topic: str) -> dict[int, int]:
    """{partition: committed offset} of `group` (partitions without a commit are left out)."""
    partitions = partitions_of(bootstrap_servers, topic)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in committed if tp.offset >= 0}


def stored_offsets(s3_client: Any, bucket: str) -> dict[int, set[int]]:
    """{partition: offsets of the records held in the bucket's data objects}, from each object's
    key (`<topic>+<partition>+<first offset>`) and its first-offset/last-offset/record-count
    metadata."""
    held: dict[int, set[int]] = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if is_journal_key(item["Key"]):
                continue
            partition = int(item["Key"].rsplit("/", 1)[-1].split("+")[-2])
            meta = s3_client.head_object(Bucket=bucket, Key=item["Key"])["Metadata"]
            first, last, count = (
                int(meta["first-offset"]),
                int(meta["last-offset"]),
                int(meta["record-count"]),
            )
            if last - first + 1 != count:
                raise AssertionError(
                    f"{item['Key']} holds {count} records over offsets {first}..{last}: a gap this audit cannot place"
                )
            held.setdefault(partition, set()).update(range(first, last + 1))
    return held


def uncovered_commits(
    bootstrap_servers: str, group: str, topic: str, s3_client: Any, bucket: str
) -> dict[int, list[int]]:
    """{partition: offsets below the committed offset that no object in S3 holds}; empty when every
    commit is backed by data. Offsets are read before the objects, and S3 only grows, so a commit
    that raced ahead of its upload shows up here."""
    committed = committed_offsets(bootstrap_servers, group, topic)
    held = stored_offsets(s3_client, bucket)
    problems: dict[int, list[int]] = {}
    for partition, offset in committed.items():
        missing = sorted(set(range(offset)) - held.get(partition, set()))
        if missing:
            problems[partition] = missing[:10]
    return problems


def count_records(bootstrap_servers: str, topic: str) -> int:
    """How many records `topic` holds, read from the beginning to the end of every partition.

    The end is the partition-EOF event (the fetch's high watermark): Tansu's ListOffsets answer is
    wrong, so watermark queries are not used."""
    partitions = partitions_of(bootstrap_servers, topic)
    if not partitions:
        return 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "chinook-fault-audit",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        pending, records = set(partitions), 0
        deadline = time.monotonic() + EOF_TIMEOUT
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: no end reached on partitions {sorted(pending)}")
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is None:
                    records += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                else:
                    raise KafkaException(error)
        return records
    finally:
        consumer.close()
