"""The consumer's pure decisions: keys, flush rule, object encoding, journal, poison records."""

from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer

from chinook_consumer.buffer import FlushLimits, PartitionBuffer, should_flush
from chinook_consumer.librdkafka import librdkafka_properties
from chinook_consumer.objects.formats import metadata, object_format
from chinook_consumer.objects.formats.protobuf import ProtobufFormat
from chinook_consumer.objects.journal import Intent, journal_key, resume_point
from chinook_consumer.objects.keys import HOUR_MS, bucket_ms, object_key
from chinook_consumer.poison import parse_change
from chinook_consumer.positions import Position
from chinook_consumer.settings import CLASSIC_ONLY, ConsumerSettings
from chinook_shared.changes import MESSAGE_TYPE, Customer, CustomerChange, Operation
from chinook_shared.errors import PipelineError
from chinook_shared.framing import unframe
from chinook_shared.kafka import KafkaSettings
from chinook_shared.s3 import S3Settings


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


T = ms("2024-03-10T10:59:59.999")


@pytest.mark.parametrize(
    ("layout", "prefix", "expected"),
    [
        ("hive-hourly", "raw", "raw/t/dt=2024-03-10/hour=10/t+3+00000000000000000042.binpb.gz"),
        ("hive-hourly", "", "t/dt=2024-03-10/hour=10/t+3+00000000000000000042.binpb.gz"),
        ("hive-hourly", "/a/b/", "a/b/t/dt=2024-03-10/hour=10/t+3+00000000000000000042.binpb.gz"),
        (
            "year-month-day-hour",
            "raw",
            "raw/t/year=2024/month=03/day=10/hour=10/t+3+00000000000000000042.binpb.gz",
        ),
        ("entity-date", "raw", "raw/customer/date=2024-03-10/t+3+00000000000000000042.binpb.gz"),
        ("entity-date", "", "customer/date=2024-03-10/t+3+00000000000000000042.binpb.gz"),
    ],
)
def test_object_key_layouts(layout: str, prefix: str, expected: str) -> None:
    assert object_key(layout, prefix, "t", 3, 42, T, "binpb.gz") == expected


def test_offsets_are_zero_padded_so_keys_sort_by_offset() -> None:
    keys = [object_key("hive-hourly", "", "t", 0, offset, T, "binpb") for offset in (9, 10, 100)]
    assert keys == sorted(keys)
    assert keys[2].endswith("t+0+00000000000000000100.binpb")


def test_batch_splits_by_hour_and_each_object_starts_at_its_own_first_offset() -> None:
    next_hour, next_day = T + 1, ms("2024-03-11T00:00:00")
    records = [(5, T, b"a"), (6, next_hour, b"b"), (7, T, b"c"), (8, next_day, b"d")]

    def groups(layout: str) -> list[tuple[int, int, int, int, list[bytes]]]:
        buffer = PartitionBuffer(bucket_ms(layout))
        for offset, timestamp, value in records:
            buffer.add(offset, timestamp, value, now=0.0)
        return [
            (g.first_offset, g.last_offset, g.count, g.timestamp_ms, list(unframe(bytes(g.body))))
            for g in buffer.time_groups()
        ]

    assert groups("hive-hourly") == [
        (5, 7, 2, T, [b"a", b"c"]),
        (6, 6, 1, next_hour, [b"b"]),
        (8, 8, 1, next_day, [b"d"]),
    ]
    assert groups("entity-date") == [(5, 7, 3, T, [b"a", b"b", b"c"]), (8, 8, 1, next_day, [b"d"])]
    assert object_key("hive-hourly", "", "t", 0, 6, next_hour, "x") == (
        "t/dt=2024-03-10/hour=11/t+0+00000000000000000006.x"
    )


def test_flush_rule_records_bytes_or_age() -> None:
    limits = FlushLimits(records=10, bytes=100, age=5.0)
    assert not should_flush(9, 99, 4.9, limits)
    assert should_flush(10, 0, 0.0, limits)
    assert should_flush(1, 100, 0.0, limits)
    assert should_flush(1, 1, 5.0, limits)


def test_buffer_covers_rejected_offsets_without_storing_them() -> None:
    buffer = PartitionBuffer(HOUR_MS)
    assert buffer.empty and not buffer.due(100.0, FlushLimits(1, 1, 0.1))
    buffer.cover(10, now=1.0)
    buffer.add(11, T, b"xyz", now=2.0)
    assert (buffer.start, buffer.end, buffer.size, buffer.count) == (10, 12, 3, 1)
    assert buffer.age(4.0) == 3.0
    assert buffer.due(6.0, FlushLimits(100, 100, 5.0))


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_encoding_round_trips_the_bytes_received(compression: str) -> None:
    buffer = PartitionBuffer(HOUR_MS)
    for offset, value in ((1, b"first"), (2, b""), (3, b"x" * 300)):
        buffer.add(offset, T, value, now=0.0)
    (group,) = buffer.time_groups()
    encoding = ProtobufFormat(compression)
    body = encoding.encode(group, 0)
    assert list(unframe(body)) == [b"first", b"", b"x" * 300]
    assert encoding.encode(group, 0) == body  # deterministic: a replay writes identical bytes
    assert encoding.extension == ("binpb.gz" if compression == "gzip" else "binpb")
    assert body[:2] == b"\x1f\x8b" if compression == "gzip" else body[:1] == b"\x05"
    assert metadata(group) == {
        "record-count": "3",
        "first-offset": "1",
        "last-offset": "3",
        "message-type": MESSAGE_TYPE,
    }


@pytest.mark.parametrize(
    ("committed", "intent", "expected"),
    [
        (None, None, Position(None)),
        (40, None, Position(None)),
        (40, Intent(40, 90), Position(40, 90)),  # crashed between intent and commit
        (None, Intent(0, 25), Position(0, 25)),  # crashed before the first commit
        (40, Intent(50, 90), Position(50, 90)),  # the commit of [40, 50) failed, batch is in S3
        (90, Intent(40, 90), Position(None)),  # committed: nothing to redo
        (120, Intent(40, 90), Position(None)),  # stale intent
    ],
)
def test_journal_decision(committed: int | None, intent: Intent | None, expected: Position) -> None:
    assert resume_point(committed, intent) == expected


def test_journal_key() -> None:
    assert journal_key("", "g", "t", 2) == "_chinook/journal/g/t/2.json"
    assert journal_key("raw/", "g", "t", 0) == "raw/_chinook/journal/g/t/0.json"


def change(op: int = Operation.OPERATION_INSERT, customer_id: int = 7) -> bytes:
    message = CustomerChange(op=op, sequence=1, customer_id=customer_id)
    message.after.CopyFrom(
        Customer(customer_id=customer_id, first_name="A", last_name="B", email="e")
    )
    return message.SerializeToString()


def test_poison_records_are_recognised() -> None:
    assert parse_change(change())[1] is None
    assert "not a CustomerChange" in (parse_change(b"\xff\xff\xff")[1] or "")
    assert parse_change(change(op=Operation.OPERATION_UNSPECIFIED))[1] == "operation is unspecified"
    assert parse_change(change(customer_id=0))[1] == "no customer_id"
    assert parse_change(b"")[1] == "operation is unspecified"


def test_config_rejects_unusable_values() -> None:
    base = {"kafka": KafkaSettings("localhost:1"), "s3": S3Settings(), "bucket": "chinook-data"}
    assert ConsumerSettings(**base).dead_letter_topic == "chinook.customers.dlq"  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match=r"--layout .*must be one of"):
        ConsumerSettings(**base, layout="daily")  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="compression"):
        ConsumerSettings(**base, compression="zstd")  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match=r"--compression .*not 'lz4'"):
        ConsumerSettings(**base, format="parquet", compression="lz4")  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match=r"--format .*not 'avro'"):
        ConsumerSettings(**base, format="avro")  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="flush-records"):
        ConsumerSettings(**base, flush_records=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_the_group_protocol_settings_are_ones_librdkafka_takes(protocol: str) -> None:
    """KIP-848 leaves the session, heartbeat and assignment to the broker: librdkafka refuses a
    consumer that sets them, so they are left out; the classic protocol keeps its own."""
    settings = ConsumerSettings(
        kafka=KafkaSettings("127.0.0.1:1"),
        s3=S3Settings(),
        bucket="chinook-data",
        group_protocol=protocol,
    )
    properties = librdkafka_properties(settings)
    if protocol == "classic":
        assert properties["partition.assignment.strategy"] == "cooperative-sticky"
        assert properties["session.timeout.ms"] == 10_000
        assert "group.protocol" not in properties
    else:
        assert properties["group.protocol"] == "consumer"
        assert not CLASSIC_ONLY & properties.keys()
    Consumer(librdkafka_properties(settings)).close()  # librdkafka accepts them


def test_group_settings_that_do_not_apply_are_one_clear_error() -> None:
    base = {"s3": S3Settings(), "bucket": "chinook-data"}
    with pytest.raises(PipelineError, match=r"session.timeout.ms: not allowed .*--group-protocol"):
        ConsumerSettings(
            kafka=KafkaSettings("localhost:1", extra={"session.timeout.ms": "6000"}),
            group_protocol="consumer",
            **base,  # type: ignore[arg-type]
        )
    with pytest.raises(PipelineError, match="choose the protocol with --group-protocol"):
        ConsumerSettings(
            kafka=KafkaSettings("localhost:1", extra={"group.protocol": "consumer"}),
            **base,  # type: ignore[arg-type]
        )
    with pytest.raises(PipelineError, match=r"--group-protocol .*must be one of classic, consumer"):
        ConsumerSettings(kafka=KafkaSettings("localhost:1"), group_protocol="kip848", **base)  # type: ignore[arg-type]
    classic = KafkaSettings("localhost:1", extra={"session.timeout.ms": "6000"})
    assert ConsumerSettings(kafka=classic, **base).group_protocol == "classic"  # type: ignore[arg-type]


def test_gzip_level_is_configurable_and_every_level_reads_back() -> None:
    buffer = PartitionBuffer(HOUR_MS)
    for offset in range(200):
        buffer.add(offset, T, change(customer_id=offset + 1), now=0.0)
    (group,) = buffer.time_groups()
    bodies = {level: ProtobufFormat("gzip", level).encode(group, 0) for level in (1, 6, 9)}
    assert all(
        list(unframe(body)) == [change(customer_id=i + 1) for i in range(200)]
        for body in bodies.values()
    )
    settings = ConsumerSettings(
        kafka=KafkaSettings("localhost:1"), s3=S3Settings(), bucket="chinook-data"
    )
    assert settings.gzip_level == 1
    assert object_format(
        settings.format, settings.compression, settings.gzip_level
    ) == ProtobufFormat("gzip", 1)
