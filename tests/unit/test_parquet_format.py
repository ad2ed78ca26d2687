"""Parquet objects: rows from the descriptor, Kafka coordinates per row, bounded row groups, and
the same bytes for the same records."""

import io

import pyarrow.parquet as pq
import pytest

from chinook_consumer.buffer import PartitionBuffer, TimeGroup
from chinook_consumer.objects.formats import metadata, object_format
from chinook_consumer.objects.formats import parquet as parquet_format
from chinook_consumer.objects.formats.parquet import ParquetFormat
from chinook_consumer.objects.keys import HOUR_MS
from chinook_shared.arrow import batch_to_changes, change_schema
from chinook_shared.changes import MESSAGE_TYPE, Customer, CustomerChange, Operation

T = 1_710_064_800_000  # 2024-03-10T10:00:00Z


def change(sequence: int, op: int = Operation.OPERATION_UPDATE) -> bytes:
    message = CustomerChange(op=op, sequence=sequence, customer_id=sequence % 7 + 1)
    message.captured_at.FromMilliseconds(T + sequence)
    customer = Customer(
        customer_id=sequence % 7 + 1, first_name="Åsa", last_name="Ng", email=f"{sequence}@x.se"
    )
    if op == Operation.OPERATION_DELETE:
        message.before.CopyFrom(customer)
    else:
        customer.company = ""  # set but empty: stays distinct from NULL
        message.after.CopyFrom(customer)
    return message.SerializeToString()


def group_of(records: list[tuple[int, int, bytes]]) -> TimeGroup:
    buffer = PartitionBuffer(HOUR_MS)
    buffer.cover(records[0][0] - 1, now=0.0)  # a rejected record before: offsets need not be dense
    for offset, timestamp, value in records:
        buffer.add(offset, timestamp, value, now=0.0)
    (group,) = buffer.time_groups()
    return group


def read(body: bytes) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(body))


def test_rows_are_the_changes_with_their_kafka_coordinates() -> None:
    values = [change(1), change(2, Operation.OPERATION_DELETE), change(3)]
    group = group_of([(10, T + 5, values[0]), (11, T + 6, values[1]), (13, T + 9, values[2])])
    body = ParquetFormat().encode(group, 4)

    table = read(body).read()
    assert table.schema.remove_metadata() == change_schema()
    assert batch_to_changes(table.to_batches()[0]) == values
    rows = table.to_pylist()
    assert [(r["kafka_partition"], r["kafka_offset"]) for r in rows] == [(4, 10), (4, 11), (4, 13)]
    assert [int(r["kafka_timestamp"].timestamp() * 1000) for r in rows] == [T + 5, T + 6, T + 9]
    assert [r["op"] for r in rows] == ["OPERATION_UPDATE", "OPERATION_DELETE", "OPERATION_UPDATE"]
    assert rows[0]["after"]["company"] == "" and rows[0]["after"]["fax"] is None
    assert rows[1]["after"] is None and rows[1]["before"]["first_name"] == "Åsa"
    assert metadata(group) == {
        "record-count": "3",
        "first-offset": "10",
        "last-offset": "13",
        "message-type": MESSAGE_TYPE,
    }


def test_same_records_same_bytes() -> None:
    records = [(offset, T + offset, change(offset)) for offset in range(1, 500)]
    first = ParquetFormat().encode(group_of(records), 0)
    assert ParquetFormat().encode(group_of(records), 0) == first


def test_zstd_by_default_and_every_offered_codec_reads_back() -> None:
    group = group_of([(offset, T, change(offset)) for offset in range(1, 50)])
    assert object_format("parquet", None, 1) == ParquetFormat("zstd")
    for compression in ParquetFormat.COMPRESSIONS:
        body = ParquetFormat(compression).encode(group, 0)
        codec = read(body).metadata.row_group(0).column(0).compression
        assert codec == {"zstd": "ZSTD", "gzip": "GZIP", "none": "UNCOMPRESSED"}[compression]
        assert read(body).read().num_rows == 49
    assert ParquetFormat.extension == "parquet"
    assert ParquetFormat.content_type == "application/vnd.apache.parquet"


def test_row_groups_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet_format, "ROW_GROUP_ROWS", 10)
    body = ParquetFormat().encode(group_of([(o, T, change(o)) for o in range(1, 26)]), 0)
    sizes = [read(body).metadata.row_group(i).num_rows for i in range(read(body).num_row_groups)]
    assert sizes == [10, 10, 5]
