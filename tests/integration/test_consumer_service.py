"""The consumer against a real Tansu broker and a real moto S3 server."""

import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import REGISTRY

from chinook_consumer.buffer import PartitionBuffer
from chinook_consumer.objects.formats import object_format
from chinook_consumer.objects.journal import Intent, Journal
from chinook_consumer.objects.keys import Keys, bucket_ms
from chinook_consumer.objects.uploader import S3Object, Uploader
from chinook_consumer.objects.writer import ObjectWriter
from chinook_consumer.service import run_consumer
from chinook_consumer.settings import ConsumerSettings
from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.tools.objects import key_format, parquet_batches
from chinook_pipeline.tools.verify import is_journal_key
from chinook_shared import names
from chinook_shared.arrow import batch_to_changes
from chinook_shared.changes import MESSAGE_TYPE, Customer, CustomerChange, Operation
from chinook_shared.errors import PipelineError
from chinook_shared.framing import unframe
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from chinook_shared.s3 import S3Settings, make_client
from tests.conftest import wait_for

HOUR_10 = 1_710_064_800_000  # 2024-03-10T10:00:00Z
# Tansu holds a JoinGroup for about half the session timeout: keep it short in tests.
FAST_GROUP = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
HOUR_11 = HOUR_10 + 3_600_000
KEY = re.compile(
    r"^out/(?P<topic>[^/]+)/dt=2024-03-10/hour=(?P<hour>1[01])/"
    r"(?P=topic)\+(?P<partition>\d+)\+(?P<offset>\d{20})\.binpb\.gz$"
)


@dataclass(frozen=True)
class Sent:
    sequence: int
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes


def change(sequence: int, timestamp_ms: int) -> CustomerChange:
    customer_id = 1 + sequence % 59
    message = CustomerChange(
        op=Operation.OPERATION_UPDATE, sequence=sequence, customer_id=customer_id
    )
    message.captured_at.FromMilliseconds(timestamp_ms)
    message.after.CopyFrom(
        Customer(
            customer_id=customer_id, first_name="Ana", last_name="Lee", email=f"{sequence}@x.org"
        )
    )
    return message


def produce(
    bootstrap: str, topic: str, items: list[tuple[bytes, int, int]], partitions: int
) -> list[Sent]:
    """Produce (value, timestamp ms, sequence) items; what the broker acknowledged, in order."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:  # not by name: Tansu would create it
        admin.create_topics([NewTopic(topic, partitions, -1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    sent: list[Sent] = []

    def delivered(error: Any, message: Any, sequence: int, value: bytes, timestamp: int) -> None:
        assert error is None, error
        sent.append(Sent(sequence, message.partition(), message.offset(), timestamp, value))

    for value, timestamp, sequence in items:
        producer.produce(
            topic,
            value=value,
            key=str(sequence % 59 + 1).encode(),
            timestamp=timestamp,
            headers={names.SOURCE_HEADER: b"test"},
            on_delivery=lambda e, m, s=sequence, v=value, t=timestamp: delivered(e, m, s, v, t),
        )
    assert producer.flush(30) == 0
    return sent


def changes(first: int, count: int, start_ms: int, step_ms: int) -> list[tuple[bytes, int, int]]:
    return [
        (
            change(s, start_ms + (s - first) * step_ms).SerializeToString(),
            start_ms + (s - first) * step_ms,
            s,
        )
        for s in range(first, first + count)
    ]


def consumer_settings(
    bootstrap: str, bucket: str, topic: str, group: str, **overrides: Any
) -> ConsumerSettings:
    return ConsumerSettings(
        kafka=KafkaSettings(bootstrap, extra=FAST_GROUP),
        s3=S3Settings(),
        bucket=bucket,
        prefix="out",
        topic=topic,
        group_id=group,
        **{"exit_when_idle": True, **overrides},
    )


def stored(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Every data object: key -> {"sequences", "metadata", "content_type"}."""
    result: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/"):
        for item in page.get("Contents", []):
            if is_journal_key(item["Key"]):
                continue
            form = key_format(item["Key"], "out")
            assert form, f"{item['Key']} is not named like the consumer's objects"
            response = s3.get_object(Bucket=bucket, Key=item["Key"])
            body = response["Body"].read()
            if form == "parquet":
                values = [v for batch in parquet_batches(body) for v in batch_to_changes(batch)]
            else:
                values = list(unframe(body))
            result[item["Key"]] = {
                "sequences": [CustomerChange.FromString(v).sequence for v in values],
                "metadata": response["Metadata"],
                "content_type": response["ContentType"],
            }
    return result


def all_sequences(objects: dict[str, dict[str, Any]]) -> Counter[int]:
    return Counter(s for item in objects.values() for s in item["sequences"])


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **FAST_GROUP})
    try:
        offsets = client.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=30
        )
    finally:
        client.close()
    return {tp.partition: tp.offset for tp in offsets}


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_every_record_lands_once_split_by_hour_and_resumes_from_commits(
    broker: kafka.Cluster, s3_client: Any, bucket: str, topic: str
) -> None:
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    good = changes(0, 60, HOUR_10 + 3_590_000, 1000)  # 10:59:50 .. 11:00:49
    garbage = (b"\xff\xff\xff not protobuf", HOUR_11, -1)
    unspecified = (CustomerChange(customer_id=3).SerializeToString(), HOUR_11, -2)
    items = [*good[:30], garbage, *good[30:45], unspecified, *good[45:]]
    errors_before = metric(names.CONSUMER_DECODE_ERRORS)

    sent = produce(bootstrap, topic, items, partitions=2)
    run_consumer(
        consumer_settings(bootstrap, bucket, topic, group, flush_records=20),
        Health(),
        threading.Event(),
    )

    objects = stored(s3_client, bucket)
    assert all_sequences(objects) == Counter(range(60))
    assert metric(names.CONSUMER_DECODE_ERRORS) - errors_before == 2
    by_offset = {(s.partition, s.offset): s for s in sent}
    for key, item in objects.items():
        match = KEY.match(key)
        assert match, key
        partition, first = int(match["partition"]), int(match["offset"])
        assert match["topic"] == topic
        first_record = by_offset[(partition, first)]
        assert first_record.sequence == item["sequences"][0]
        assert all(
            by_offset[(partition, int(item["metadata"][name]))].sequence == item["sequences"][index]
            for name, index in (("first-offset", 0), ("last-offset", -1))
        )
        assert item["metadata"]["record-count"] == str(len(item["sequences"]))
        assert item["metadata"]["message-type"] == MESSAGE_TYPE
        hour = 10 if first_record.timestamp_ms < HOUR_11 else 11
        assert int(match["hour"]) == hour
        assert {(by_offset[(partition, first)].timestamp_ms >= HOUR_11)} == {
            s.timestamp_ms >= HOUR_11
            for s in sent
            if s.partition == partition and s.sequence in item["sequences"]
        }
    assert {int(KEY.match(k)["hour"]) for k in objects} == {10, 11}  # type: ignore[index]
    ends = {
        p: 1 + max(s.offset for s in sent if s.partition == p) for p in {s.partition for s in sent}
    }
    assert committed(bootstrap, group, topic, 2) == {p: ends.get(p, -1001) for p in range(2)}

    more = produce(bootstrap, topic, changes(60, 25, HOUR_11 + 60_000, 1000), partitions=2)
    run_consumer(consumer_settings(bootstrap, bucket, topic, group), Health(), threading.Event())
    assert all_sequences(stored(s3_client, bucket)) == Counter(range(85))
    ends.update(
        {
            p: 1 + max(s.offset for s in more if s.partition == p)
            for p in {s.partition for s in more}
        }
    )
    assert committed(bootstrap, group, topic, 2) == ends


@pytest.mark.parametrize("form", ["protobuf", "parquet"])
def test_a_crash_mid_batch_is_redone_exactly(
    broker: kafka.Cluster, s3_client: Any, bucket: str, topic: str, form: str
) -> None:
    """A previous incarnation committed [0, 5), stored [5, 10) without managing to commit it,
    wrote the intent for [10, 30) and stored only that batch's first object before dying."""
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    sent = produce(bootstrap, topic, changes(0, 50, HOUR_10 + 3_585_000, 1000), partitions=1)
    settings = consumer_settings(bootstrap, bucket, topic, group, flush_records=1000, format=form)
    uploader = Uploader(
        s3_client, bucket, settings.multipart_threshold, settings.multipart_chunksize
    )
    journal = Journal(uploader, settings.prefix, group, topic)
    keys = Keys(settings.layout, settings.prefix, topic)
    writer = ObjectWriter(uploader, journal, keys, object_format(form, None, settings.gzip_level))

    def batch(start: int, end: int) -> PartitionBuffer:
        buffer = PartitionBuffer(bucket_ms(settings.layout))
        for s in sent[start:end]:
            buffer.add(s.offset, s.timestamp_ms, s.value, now=0.0)
        return buffer

    writer.flush(0, batch(0, 5))  # returns once durable
    writer.flush(0, batch(5, 10))
    journal.write(0, Intent(10, 30))
    partial = writer.objects(0, batch(10, 30))
    assert len(partial) == 2  # the batch spans 10:59 and 11:00
    assert uploader.upload(partial[:1]) == [None]
    commit_as_another_member(bootstrap, group, TopicPartition(topic, 0, 5))
    assert sum(all_sequences(stored(s3_client, bucket)).values()) == 10 + len(  # before the rerun
        stored(s3_client, bucket)[partial[0].key]["sequences"]
    )

    run_consumer(settings, Health(), threading.Event())

    assert all_sequences(stored(s3_client, bucket)) == Counter(range(50))
    assert committed(bootstrap, group, topic, 1) == {0: 50}


COORDINATOR_NOT_READY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def commit_as_another_member(bootstrap: str, group: str, position: TopicPartition) -> None:
    """Commit `position` for `group` from outside it. Kafka answers NOT_COORDINATOR while the
    group's coordinator is still being found or loaded, which a standalone commit must ride out
    (librdkafka does not mark that answer retriable)."""
    previous = Consumer({"bootstrap.servers": bootstrap, "group.id": group})

    def committed_once() -> bool:
        try:
            previous.commit(offsets=[position], asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() not in COORDINATOR_NOT_READY:
                raise
            return False
        return True

    try:
        wait_for(committed_once, "a commit the group coordinator accepts", timeout=30)
    finally:
        previous.close()


def test_stop_flushes_commits_and_leaves(
    broker: kafka.Cluster, s3_client: Any, bucket: str, topic: str
) -> None:
    """A stop request uploads and commits what is buffered even though no flush rule fired."""
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, changes(0, 10, HOUR_10, 1000), partitions=1)
    stop, health = threading.Event(), Health()
    settings = consumer_settings(
        bootstrap, bucket, topic, group, exit_when_idle=False, flush_age=3600.0
    )
    worker = threading.Thread(target=run_consumer, args=(settings, health, stop))
    worker.start()
    try:  # wait until the service has buffered the records: its gauge says so
        while metric(names.CONSUMER_BUFFERED_RECORDS) < 10 and worker.is_alive():
            stop.wait(0.1)
    finally:
        stop.set()
        worker.join(60)
    assert not worker.is_alive()
    assert all_sequences(stored(s3_client, bucket)) == Counter(range(10))
    assert committed(bootstrap, group, topic, 1) == {0: 10}


def test_unusable_bucket_or_broker_fails_at_start(broker: kafka.Cluster, s3_env: Any) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        run_consumer(
            consumer_settings(broker.bootstrap_servers, "no-such-bucket", "t", "g"),
            Health(),
            threading.Event(),
        )
    unreachable = f"127.0.0.1:{embedded.free_port()}"
    settings = ConsumerSettings(
        kafka=KafkaSettings(unreachable, extra={}), s3=S3Settings(), bucket="chinook-data"
    )
    with pytest.raises(PipelineError, match="cannot reach the Kafka broker"):
        run_consumer(settings, Health(), threading.Event())


def test_an_s3_outage_pauses_then_resumes_without_loss(
    broker: kafka.Cluster, s3_env: Any, topic: str, tmp_path: Any
) -> None:
    """S3 goes away mid-run: the service degrades, keeps its batch, and delivers it once S3 is
    back (a second moto server, restarted empty on the same port)."""
    bootstrap, group, bucket = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}", "outage"
    server = embedded.start_s3(log=tmp_path / "moto.log")
    s3_settings = S3Settings(endpoint_url=server.endpoint_url, max_attempts=2, connect_timeout=1.0)
    s3 = make_client(s3_settings)
    s3.create_bucket(Bucket=bucket)
    produce(bootstrap, topic, changes(0, 10, HOUR_10, 1000), partitions=1)
    stop, health = threading.Event(), Health()
    settings = replace(
        consumer_settings(bootstrap, bucket, topic, group, exit_when_idle=False, flush_records=5),
        s3=s3_settings,
    )
    failures_before = metric(names.CONSUMER_UPLOAD_FAILURES)
    worker = threading.Thread(target=run_consumer, args=(settings, health, stop))
    worker.start()
    try:
        until(lambda: all_sequences(stored(s3, bucket)) == Counter(range(10)), worker)
        server.stop()
        produce(bootstrap, topic, changes(10, 10, HOUR_10 + 10_000, 1000), partitions=1)
        until(lambda: health.report()[1]["status"] == "degraded", worker)
        assert metric(names.CONSUMER_UPLOAD_FAILURES) > failures_before
        server = embedded.start_s3(port=server.port, log=tmp_path / "moto.log")
        s3.create_bucket(Bucket=bucket)
        until(lambda: all_sequences(stored(s3, bucket)) == Counter(range(10, 20)), worker)
        until(lambda: health.report()[1]["status"] == "ok", worker)
    finally:
        stop.set()
        worker.join(60)
        server.stop()
    assert not worker.is_alive()
    assert committed(bootstrap, group, topic, 1) == {0: 20}


def test_large_objects_go_up_in_checksummed_parts_and_a_failed_part_aborts(
    s3_client: Any, bucket: str
) -> None:
    mib = 1024 * 1024
    body = random.Random(1).randbytes(11 * mib)
    uploader = Uploader(s3_client, bucket, 6 * mib, 5 * mib)
    objects = [S3Object("big", body, "application/gzip", {"record-count": "1"})]
    assert uploader.upload([*objects, S3Object("small", b"x", "application/gzip")]) == [None] * 2
    head = s3_client.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"') and head["ChecksumCRC32"]  # three parts, checksummed
    assert (head["Metadata"], head["ContentType"]) == ({"record-count": "1"}, "application/gzip")
    # moto 5.1 answers a multipart object's GET with a whole-object CRC32 that is really the
    # composite of the parts (AWS marks it `-3` and botocore skips it): read without validating.
    plain = boto3.client(
        "s3",
        endpoint_url=s3_client.meta.endpoint_url,
        config=Config(response_checksum_validation="when_required"),
    )
    assert plain.get_object(Bucket=bucket, Key="big")["Body"].read() == body

    def second_part_fails(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 2:
            raise ConnectionClosedError(endpoint_url="http://s3")

    s3_client.meta.events.register("before-parameter-build.s3.UploadPart", second_part_fails)
    try:
        (error,) = uploader.upload([S3Object("other", body, "application/gzip")])
    finally:
        s3_client.meta.events.unregister("before-parameter-build.s3.UploadPart", second_part_fails)
    assert isinstance(error, ConnectionClosedError)
    assert not s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def until(condition: Callable[[], bool], worker: threading.Thread) -> None:
    """Wait for `condition` while the service runs (the suite's timeout bounds the wait)."""
    pause = threading.Event()
    while not condition():
        assert worker.is_alive(), "the consumer stopped"
        pause.wait(0.2)
