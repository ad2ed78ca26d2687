"""Dead-letter topics: poison records (consumer) and unencodable rows (producer), on real parts."""

import base64
import json
import sqlite3
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from chinook_consumer.dead_letters import (
    DeadLetter,
    DeadLetterWriter,
    dead_letter_headers,
    dead_letter_key,
)
from chinook_consumer.objects.journal import Journal, resume_point
from chinook_consumer.objects.uploader import Uploader
from chinook_consumer.service import run_consumer
from chinook_pipeline.local import kafka
from chinook_producer.dead_letters import VALUE_LIMIT, dead_letter, row_document
from chinook_producer.encoder import UnencodableRow, check_size
from chinook_shared import names
from chinook_shared.changes import COLUMN_NAMES, CustomerChange
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from tests.integration.test_consumer_service import (
    FAST_GROUP,
    HOUR_10,
    all_sequences,
    changes,
    committed,
    consumer_settings,
    metric,
    produce,
    stored,
)
from tests.producer_runs import pending_changes, read_messages, read_topic, state_of
from tests.producer_runs import produce as run_producer_once
from tests.unit.test_producer_capture import INSERT, ROWS, make_db


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: dict[str, bytes]


def read_letters(bootstrap: str, topic: str) -> list[Letter]:
    """Every record of `topic` (all partitions, up to `_PARTITION_EOF`), raw."""
    group = f"test-dlq-{uuid.uuid4().hex[:8]}"
    return read_messages(KafkaSettings(bootstrap), topic, group, _letter)


def _letter(message: Message) -> Letter:
    return Letter(
        message.partition(),
        message.offset(),
        message.key(),
        message.value(),
        message.timestamp()[1],
        dict(message.headers() or []),
    )


# --- consumer -------------------------------------------------------------------------------

GARBAGE = [
    b"\xff\xff\xff not protobuf",
    CustomerChange(customer_id=3).SerializeToString(),  # no operation
    CustomerChange(op=CustomerChange.OPERATION_INSERT).SerializeToString(),  # no customer id
    b'{"customer_id": 7, "op": "UPDATE"}',
    b"\x07\x01\x02",
]


def test_headers_and_key_name_the_original_record() -> None:
    letter = DeadLetter("t", 2, 17, b"k", b"v", 5, "bad", (("chinook-source", b"s"),))
    assert dead_letter_key("t", 2, 17) == b"t/2/17"
    assert dead_letter_headers(letter) == [
        ("chinook-source", b"s"),
        ("chinook-dlq-topic", b"t"),
        ("chinook-dlq-partition", b"2"),
        ("chinook-dlq-offset", b"17"),
        ("chinook-dlq-error", b"bad"),
        ("chinook-dlq-stage", b"consume"),
        ("chinook-dlq-key", b"k"),
    ]
    keyless = DeadLetter("t", 0, 1, None, b"v", None, "bad")
    assert "chinook-dlq-key" not in dict(dead_letter_headers(keyless))


def test_a_retried_delivery_writes_each_letter_once(broker: kafka.Cluster, topic: str) -> None:
    writer = DeadLetterWriter(KafkaSettings(broker.bootstrap_servers), f"{topic}.dlq")
    letters = {0: [DeadLetter(topic, 0, n, None, b"x", None, "bad") for n in range(3)]}
    assert writer.deliver(letters, 30) == {0: None}
    assert writer.deliver({1: []}, 30) == {}
    letters[0].append(DeadLetter(topic, 0, 3, None, b"x", None, "bad"))
    assert writer.deliver({0: letters[0][2:]}, 30) == {0: None}  # a retry with one more letter
    writer.close(30)
    keys = Counter(letter.key for letter in read_letters(broker.bootstrap_servers, f"{topic}.dlq"))
    assert keys == Counter(f"{topic}/0/{n}".encode() for n in (0, 1, 2, 2, 3))


def test_poison_records_go_to_the_dead_letter_topic_and_partitions_keep_flowing(
    broker: kafka.Cluster, s3_client: Any, bucket: str, topic: str
) -> None:
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    good = changes(0, 60, HOUR_10, 1000)
    items: list[tuple[bytes, int, int]] = []
    for index, value in enumerate(GARBAGE * 2):
        items += good[index * 6 : index * 6 + 6]
        items.append((value, HOUR_10 + 500 + index, -1 - index))
    sent = produce(bootstrap, topic, items, partitions=2)
    poison = {(s.partition, s.offset): s for s in sent if s.sequence < 0}
    dead_before = metric(names.CONSUMER_DEAD_LETTERS)
    errors_before = metric(names.CONSUMER_DECODE_ERRORS)

    run_consumer(
        consumer_settings(bootstrap, bucket, topic, group, flush_records=7),
        Health(),
        threading.Event(),
    )

    assert all_sequences(stored(s3_client, bucket)) == Counter(range(60))
    letters = read_letters(bootstrap, f"{topic}.dlq")
    assert len(letters) == len(poison) == 2 * len(GARBAGE)
    for letter in letters:
        headers = letter.headers
        where = (int(headers[names.DLQ_PARTITION_HEADER]), int(headers[names.DLQ_OFFSET_HEADER]))
        original = poison[where]
        assert headers[names.DLQ_TOPIC_HEADER] == topic.encode()
        assert headers[names.DLQ_STAGE_HEADER] == b"consume"
        assert headers[names.DLQ_ERROR_HEADER]
        assert headers[names.DLQ_KEY_HEADER] == str(original.sequence % 59 + 1).encode()
        assert headers[names.SOURCE_HEADER] == b"test"
        assert letter.key == f"{topic}/{where[0]}/{where[1]}".encode()
        assert letter.value == original.value
        assert letter.timestamp_ms == original.timestamp_ms
    assert {letter.key for letter in letters} == {f"{topic}/{p}/{o}".encode() for p, o in poison}
    assert metric(names.CONSUMER_DEAD_LETTERS) - dead_before == len(poison)
    assert metric(names.CONSUMER_DECODE_ERRORS) - errors_before == len(poison)
    ends = {p: 1 + max(s.offset for s in sent if s.partition == p) for p in range(2)}
    assert committed(bootstrap, group, topic, 2) == ends

    # Rewind the group: the replay writes again exactly the dead letters it re-reads, same keys.
    rewind = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **FAST_GROUP})
    older = {p: end // 2 for p, end in ends.items()}
    rewind.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in older.items()], asynchronous=False
    )
    rewind.close()
    uploader = Uploader(s3_client, bucket, 2**30, 2**23)
    journal = Journal(uploader, "out", group, topic)
    starts = {p: resume_point(o, journal.read(p)).offset or o for p, o in older.items()}
    replayed = [where for where in poison if where[1] >= starts[where[0]]]
    assert 0 < len(replayed) < len(poison)
    run_consumer(consumer_settings(bootstrap, bucket, topic, group), Health(), threading.Event())

    assert set(all_sequences(stored(s3_client, bucket))) == set(range(60))
    again = read_letters(bootstrap, f"{topic}.dlq")
    assert len(again) == len(letters) + len(replayed)
    first_copies = {letter.key: letter for letter in letters}
    for letter in again:
        copy = first_copies[letter.key]
        assert (letter.value, letter.headers) == (copy.value, copy.headers)
    assert committed(bootstrap, group, topic, 2) == ends


# --- producer -------------------------------------------------------------------------------

BIG = "x" * 10_000_000
CLIENT_REFUSED = "y" * 1_020_000  # under our 1 MiB limit, over librdkafka's message.max.bytes


def test_row_document_names_columns_and_keeps_it_small() -> None:
    customer = (6, b"\x00\xff", "Lee", *[None] * 4, BIG, None, None, None, "e", 1)
    row = {"seq": 9, "op": "insert", "customer_id": 6, "captured_at_ms": 1000}
    row |= dict(zip(COLUMN_NAMES, customer, strict=True))
    document = json.loads(row_document(row))
    assert document["sequence"] == 9 and document["op"] == "insert"
    assert document["customer_id"] == 6 and document["captured_at_ms"] == 1000
    assert list(document["columns"]) == list(COLUMN_NAMES)
    assert document["columns"]["FirstName"] == {"base64": base64.b64encode(b"\x00\xff").decode()}
    assert document["columns"]["Country"] == {
        "truncated": True,
        "length": len(BIG),
        "prefix": "x" * VALUE_LIMIT,
    }
    letter = dead_letter(row, "too big", "src")
    assert letter.key == b"src/9" and letter.timestamp_ms == 1000
    assert dict(letter.headers) == {
        "chinook-dlq-stage": b"produce",
        "chinook-dlq-error": b"too big",
        "chinook-dlq-sequence": b"9",
        "chinook-source": b"src",
    }
    assert check_size(b"x" * 10, 1, limit=10) == b"x" * 10
    try:
        check_size(b"x" * 11, 1, limit=10)
    except UnencodableRow as error:
        assert "11 bytes, over the 10-byte limit" in str(error)
    else:
        raise AssertionError("an oversized change passed")


def add_customers(db: Path) -> None:
    """Good rows 6, 8, 10, 12, 14 around a blob FirstName (7), non-UTF-8 City (9), a 10 MB
    Company (11) and a Company the Kafka client refuses as too large (13)."""
    connection = sqlite3.connect(db)
    with connection:
        good = lambda n: (n, f"First{n}", f"Last{n}", *[None] * 8, f"c{n}@x.org", None)  # noqa: E731
        connection.execute(INSERT, good(6))
        connection.execute(INSERT, (7, b"\x00\xffblob", "Blob", *[None] * 8, "b@x.org", None))
        connection.execute(INSERT, good(8))
        connection.execute(
            "INSERT INTO Customer (CustomerId, FirstName, LastName, City, Email) "
            "VALUES (9, 'Bad', 'Text', CAST(X'FF61' AS TEXT), 't@x.org')"
        )
        connection.execute(INSERT, good(10))
        connection.execute(INSERT, (11, "Big", "Row", BIG, *[None] * 7, "big@x.org", None))
        connection.execute(INSERT, good(12))
        connection.execute(
            INSERT, (13, "Large", "Row", CLIENT_REFUSED, *[None] * 7, "l@x.org", None)
        )
        connection.execute(INSERT, good(14))
    connection.close()


def test_unencodable_rows_go_to_the_dead_letter_topic_once(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    db = make_db(tmp_path / "chinook.db")
    run_producer_once(db, broker, topic)
    add_customers(db)
    dead_before = metric(names.PRODUCER_DEAD_LETTERS)

    run_producer_once(db, broker, topic)

    bootstrap = broker.bootstrap_servers
    published = [record.change.customer_id for record in read_topic(bootstrap, topic)]
    assert published == [row[0] for row in ROWS] + [6, 8, 10, 12, 14]
    state = state_of(db)
    letters = read_letters(bootstrap, f"{topic}.dlq")
    assert len(letters) == 4
    by_customer = {json.loads(letter.value)["customer_id"]: letter for letter in letters}
    assert set(by_customer) == {7, 9, 11, 13}
    for customer_id, letter in by_customer.items():
        document = json.loads(letter.value)
        assert letter.headers[names.DLQ_STAGE_HEADER] == b"produce"
        assert letter.headers[names.SOURCE_HEADER] == state.source_id.encode()
        assert letter.headers[names.DLQ_SEQUENCE_HEADER] == str(document["sequence"]).encode()
        assert letter.key == f"{state.source_id}/{document['sequence']}".encode()
        assert document["columns"]["CustomerId"] == customer_id
    blob, text, big = (json.loads(by_customer[n].value)["columns"] for n in (7, 9, 11))
    assert blob["FirstName"] == {"base64": base64.b64encode(b"\x00\xffblob").decode()}
    assert text["City"] == {"base64": base64.b64encode(b"\xffa").decode()}
    assert big["Company"]["length"] == len(BIG) and big["Company"]["truncated"]
    assert b"first_name holds bytes" in by_customer[7].headers[names.DLQ_ERROR_HEADER]
    assert b"city holds bytes" in by_customer[9].headers[names.DLQ_ERROR_HEADER]
    assert b"over the 1048576-byte limit" in by_customer[11].headers[names.DLQ_ERROR_HEADER]
    assert b"too large" in by_customer[13].headers[names.DLQ_ERROR_HEADER].lower()
    assert metric(names.PRODUCER_DEAD_LETTERS) - dead_before == 4
    assert state.acked_seq == len(ROWS) + 9 and pending_changes(db) == 0

    run_producer_once(db, broker, topic)  # nothing new: the position advanced exactly once

    assert len(read_topic(bootstrap, topic)) == len(ROWS) + 5
    assert len(read_letters(bootstrap, f"{topic}.dlq")) == 4
    assert metric(names.PRODUCER_DEAD_LETTERS) - dead_before == 4
    assert state_of(db).acked_seq == len(ROWS) + 9
