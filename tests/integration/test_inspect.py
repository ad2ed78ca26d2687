"""`inspect`: objects (Protobuf and Parquet) read back from disk and from a real moto S3 server."""

import json
from pathlib import Path
from typing import Any

import pytest

from chinook_consumer.buffer import PartitionBuffer
from chinook_consumer.objects.formats.parquet import ParquetFormat
from chinook_consumer.objects.keys import HOUR_MS
from chinook_pipeline.tools.inspect_object import iter_records
from chinook_shared.changes import Customer, CustomerChange, Operation
from chinook_shared.errors import PipelineError
from chinook_shared.framing import compress, frame

EVENTS = [
    CustomerChange(
        op=Operation.OPERATION_INSERT,
        sequence=7,
        customer_id=60,
        after=Customer(
            customer_id=60,
            first_name="Łucja",
            last_name="佐藤",
            email="lucja@example.pl",
            support_rep_id=3,
        ),
    ),
    CustomerChange(
        op=Operation.OPERATION_DELETE,
        sequence=8,
        customer_id=61,
        before=Customer(
            customer_id=61, first_name="Bjørn", last_name="Hansen", email="b@example.no", company=""
        ),
    ),
]
BODY = frame(event.SerializeToString() for event in EVENTS)


def no_s3() -> Any:
    raise AssertionError("a local file must not need an S3 client")


def test_local_file_gzip_and_plain(tmp_path: Path) -> None:
    for name, data in (("a.pb.gz", compress(BODY, 6)), ("a.pb", BODY)):
        path = tmp_path / name
        path.write_bytes(data)
        records = list(iter_records(str(path), no_s3))
        assert [record["op"] for record in records] == ["OPERATION_INSERT", "OPERATION_DELETE"]
        assert (
            records[0]["after"]["first_name"] == "Łucja"
            and records[0]["after"]["last_name"] == "佐藤"
        )
        assert records[0]["sequence"] == "7"  # int64 is a string in the proto3 JSON mapping
        assert records[1]["before"]["company"] == ""  # set-but-empty stays distinct from NULL
        assert "fax" not in records[1]["before"]
        json.dumps(records, ensure_ascii=False)


def test_s3_round_trip(s3_client: Any, bucket: str) -> None:
    key = "cdc/dt=2026-01-01/hour=00/p0-00000000000000000007.pb.gz"
    s3_client.put_object(Bucket=bucket, Key=key, Body=compress(BODY, 6))
    records = list(iter_records(f"s3://{bucket}/{key}", lambda: s3_client))
    assert [int(record["customer_id"]) for record in records] == [60, 61]


def test_garbage_record_is_reported_and_the_rest_still_follow(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pb"
    path.write_bytes(
        frame([EVENTS[0].SerializeToString(), b"\xff\xff\xff\xff", EVENTS[1].SerializeToString()])
    )
    records = list(iter_records(str(path), no_s3))
    assert records[0]["sequence"] == "7" and records[2]["sequence"] == "8"
    assert records[1]["index"] == 1 and "not a CustomerChange" in records[1]["error"]


def test_truncated_stream_ends_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.pb"
    path.write_bytes(BODY[:-5])
    records = list(iter_records(str(path), no_s3))
    assert records[0]["sequence"] == "7"
    assert records[-1]["index"] == 1 and "truncated" in records[-1]["error"]


def test_missing_sources_are_pipeline_errors(tmp_path: Path, s3_client: Any, bucket: str) -> None:
    with pytest.raises(PipelineError, match="is not a file"):
        list(iter_records(str(tmp_path / "absent.pb"), no_s3))
    with pytest.raises(PipelineError, match="does not exist"):
        list(iter_records(f"s3://{bucket}/absent.pb", lambda: s3_client))
    with pytest.raises(PipelineError, match="does not exist"):
        list(iter_records("s3://no-such-bucket-anywhere/x.pb", lambda: s3_client))
    with pytest.raises(PipelineError, match="s3://BUCKET/KEY"):
        list(iter_records(f"s3://{bucket}", lambda: s3_client))


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    data = bytearray(compress(BODY, 6))
    data[20:30] = b"\x00" * 10
    path = tmp_path / "corrupt.pb.gz"
    path.write_bytes(bytes(data))
    records = list(iter_records(str(path), no_s3))
    assert records == [{"error": records[0]["error"], "index": 0}]


def parquet_body() -> bytes:
    buffer = PartitionBuffer(HOUR_MS)
    for offset, event in zip((41, 43), EVENTS, strict=True):
        buffer.add(offset, 1_710_064_800_005, event.SerializeToString(), now=0.0)
    (group,) = buffer.time_groups()
    return ParquetFormat().encode(group, 2)


def test_parquet_prints_the_same_records_with_their_kafka_coordinates(
    tmp_path: Path, s3_client: Any, bucket: str
) -> None:
    path = tmp_path / "t+2+00000000000000000041.parquet"
    path.write_bytes(parquet_body())
    key = "parquet/t/dt=2024-03-10/hour=10/t+2+00000000000000000041.parquet"
    s3_client.put_object(Bucket=bucket, Key=key, Body=parquet_body())
    plain = tmp_path / "a.pb"
    plain.write_bytes(BODY)
    expected = [
        {**record, "kafka_partition": 2, "kafka_offset": offset, "kafka_timestamp": stamp}
        for record, offset, stamp in zip(
            iter_records(str(plain), no_s3),
            (41, 43),
            ("2024-03-10T10:00:00.005Z",) * 2,
            strict=True,
        )
    ]
    assert list(iter_records(str(path), no_s3)) == expected
    assert list(iter_records(f"s3://{bucket}/{key}", lambda: s3_client)) == expected
    json.dumps(expected, ensure_ascii=False)


def test_unreadable_parquet_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 40 + b"PAR1")
    (record,) = iter_records(str(path), no_s3)
    assert record["index"] == 0 and "cannot read the Parquet object" in record["error"]
