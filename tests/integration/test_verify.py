"""`verify` against objects written to a real moto S3 server with the project's own framing, and
as Parquet by the consumer's own format."""

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from chinook_consumer.buffer import PartitionBuffer
from chinook_consumer.objects.formats.parquet import ParquetFormat
from chinook_consumer.objects.keys import HOUR_MS
from chinook_pipeline.tools.seed import seed_database
from chinook_pipeline.tools.verify import VerifyReport, verify
from chinook_shared.changes import FIELD_NAMES, Customer, CustomerChange, Operation
from chinook_shared.errors import PipelineError
from chinook_shared.framing import compress, frame
from tests.conftest import customer_rows


def customer(row: Sequence[object]) -> Customer:
    return Customer(
        **{field: value for field, value in zip(FIELD_NAMES, row, strict=True) if value is not None}
    )


def change(op: int, sequence: int, row: Sequence[object]) -> CustomerChange:
    event = CustomerChange(op=op, sequence=sequence, customer_id=int(row[0]))  # type: ignore[call-overload]
    if op == Operation.OPERATION_DELETE:
        event.before.CopyFrom(customer(row))
    else:
        event.after.CopyFrom(customer(row))
    return event


def put(
    client: Any, bucket: str, key: str, events: Sequence[CustomerChange], gzip: bool = True
) -> None:
    body = frame(event.SerializeToString() for event in events)
    client.put_object(Bucket=bucket, Key=key, Body=compress(body, 6) if gzip else body)


def key(partition: int, offset: int = 0, extension: str = "binpb.gz", prefix: str = "") -> str:
    """A key the consumer writes (hive-hourly layout, topic `t`): the only keys verify reads."""
    name = f"t/dt=2024-03-10/hour=10/t+{partition}+{offset:020d}.{extension}"
    return f"{prefix}/{name}" if prefix else name


def snapshot(rows: Sequence[Sequence[object]], first_sequence: int = 1) -> list[CustomerChange]:
    return [
        change(Operation.OPERATION_SNAPSHOT, first_sequence + i, row) for i, row in enumerate(rows)
    ]


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "chinook.db"
    seed_database(path, 20)
    return path


def execute(db: Path, sql: str, *parameters: object) -> None:
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(sql, parameters)


def test_everything_matches(db: Path, s3_client: Any, bucket: str) -> None:
    rows = customer_rows(db)
    events = snapshot(rows)
    put(s3_client, bucket, key(0, prefix="cdc"), events[:12])
    put(s3_client, bucket, key(1, extension="binpb", prefix="cdc"), events[12:], gzip=False)
    put(s3_client, bucket, "cdc/_chinook/journal/p0.json", [])
    s3_client.put_object(
        Bucket=bucket, Key="cdc/_chinook/commit", Body=b"not protobuf \xff\xff\xff"
    )
    s3_client.put_object(Bucket=bucket, Key="_chinook/state", Body=b"\xff\xff")
    s3_client.put_object(Bucket=bucket, Key="other/x.pb", Body=b"\xff\xff")

    report = verify(db, s3_client, bucket, "cdc")

    assert report.ok, report.summary()
    assert (report.objects, report.events, report.customers_matched) == (2, 20, 20)
    assert report.summary().startswith("OK: 2 objects, 20 events, 20 customers match")


def test_missing_extra_and_different(db: Path, s3_client: Any, bucket: str) -> None:
    rows = customer_rows(db)
    stranger = (
        999,
        "Ghost",
        "Rider",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "ghost@example.com",
        3,
    )
    put(
        s3_client,
        bucket,
        key(0),
        [*snapshot(rows[2:]), change(Operation.OPERATION_INSERT, 100, stranger)],
    )
    execute(db, "UPDATE Customer SET City = ?, Fax = NULL WHERE CustomerId = 5", "Kraków")

    report = verify(db, s3_client, bucket)

    assert not report.ok
    assert (report.missing, report.missing_examples) == (2, [1, 2])
    assert (report.extra, report.extra_examples) == (1, [999])
    assert report.different == 1
    assert report.different_examples[0].startswith("customer 5: City db='Kraków' s3=")
    assert report.customers_matched == 17
    assert report.duplicate_events == 0
    assert "MISMATCH" in report.summary() and "2 missing, 1 extra, 1 different" in report.summary()


def test_latest_sequence_wins_whatever_the_object_order(
    db: Path, s3_client: Any, bucket: str
) -> None:
    rows = customer_rows(db)
    execute(
        db, "UPDATE Customer SET Company = NULL, Email = 'new@example.com' WHERE CustomerId = 3"
    )
    execute(db, "DELETE FROM Customer WHERE CustomerId = 4")
    updated = customer_rows(db)[2]
    put(
        s3_client,
        bucket,
        key(1),  # listed last, holds the oldest events
        snapshot(rows),
    )
    put(
        s3_client,
        bucket,
        key(0),
        [
            change(Operation.OPERATION_UPDATE, 50, updated),
            change(Operation.OPERATION_DELETE, 51, rows[3]),
        ],
    )

    report = verify(db, s3_client, bucket)

    assert report.ok, report.summary()
    assert report.customers_matched == 19 and report.events == 22


def test_a_customer_deleted_then_inserted_again(db: Path, s3_client: Any, bucket: str) -> None:
    rows = customer_rows(db)
    put(
        s3_client,
        bucket,
        key(0),
        [
            *snapshot(rows),
            change(Operation.OPERATION_DELETE, 30, rows[0]),
            change(Operation.OPERATION_INSERT, 31, rows[0]),
        ],
    )
    assert verify(db, s3_client, bucket).ok
    execute(db, "DELETE FROM Customer WHERE CustomerId = 1")
    report = verify(db, s3_client, bucket)
    assert (report.extra, report.extra_examples) == (1, [1])


def test_duplicate_events_are_counted(db: Path, s3_client: Any, bucket: str) -> None:
    events = snapshot(customer_rows(db))
    put(s3_client, bucket, key(0), events)
    put(s3_client, bucket, key(1), events[5:8])
    put(s3_client, bucket, key(2, extension="binpb"), events[5:6], gzip=False)
    put(s3_client, bucket, key(0, prefix="elsewhere"), events)  # another prefix: not read

    report = verify(db, s3_client, bucket)

    assert not report.ok
    assert report.customers_matched == 20
    assert report.duplicate_events == 3
    assert report.duplicate_examples == ["sequence 6 x3", "sequence 7 x2", "sequence 8 x2"]


def test_undecodable_records_fail_the_check(db: Path, s3_client: Any, bucket: str) -> None:
    put(s3_client, bucket, key(0), snapshot(customer_rows(db)))
    bad = key(1, extension="binpb")
    s3_client.put_object(Bucket=bucket, Key=bad, Body=frame([b"\xff\xff\xff\xff"]))
    report = verify(db, s3_client, bucket)
    assert report.undecodable_records == 1 and report.customers_matched == 20
    assert not report.ok and f"{bad} record 0" in report.summary()


def test_empty_bucket_and_empty_table(tmp_path: Path, s3_client: Any, bucket: str) -> None:
    path = tmp_path / "empty.db"
    seed_database(path, 0)
    report = verify(path, s3_client, bucket)
    assert report.ok and report == VerifyReport()


def test_bad_inputs_are_pipeline_errors(
    db: Path, tmp_path: Path, s3_client: Any, bucket: str
) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        verify(tmp_path / "absent.db", s3_client, bucket)
    assert not (tmp_path / "absent.db").exists()
    no_table = tmp_path / "no-table.db"
    with closing(sqlite3.connect(no_table)) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(PipelineError, match="Customer"):
        verify(no_table, s3_client, bucket)
    with pytest.raises(PipelineError, match="does not exist"):
        verify(db, s3_client, "no-such-bucket-here")


def put_parquet(client: Any, bucket: str, key: str, events: Sequence[CustomerChange]) -> None:
    """A Parquet object as the consumer writes it (offsets 0.., partition 0)."""
    buffer = PartitionBuffer(HOUR_MS)
    for offset, event in enumerate(events):
        buffer.add(offset, 1_710_064_800_000, event.SerializeToString(), now=0.0)
    (group,) = buffer.time_groups()
    client.put_object(Bucket=bucket, Key=key, Body=ParquetFormat().encode(group, 0))


def test_parquet_objects_are_verified_apart_from_protobuf_ones(
    db: Path, s3_client: Any, bucket: str
) -> None:
    rows = customer_rows(db)
    execute(db, "DELETE FROM Customer WHERE CustomerId = 4")
    events = [*snapshot(rows), change(Operation.OPERATION_DELETE, 21, rows[3])]
    put_parquet(s3_client, bucket, key(0, extension="parquet", prefix="parquet"), events[:15])
    put_parquet(s3_client, bucket, key(1, extension="parquet", prefix="parquet"), events[15:])
    put(s3_client, bucket, key(0), events)

    parquet = verify(db, s3_client, bucket, "parquet", object_format="parquet")
    protobuf = verify(db, s3_client, bucket)
    elsewhere = verify(db, s3_client, bucket, object_format="parquet")
    assert (elsewhere.objects, elsewhere.missing) == (0, 19), "another prefix is not read"
    assert "the consumer's parquet objects are under --prefix parquet" in elsewhere.summary()

    assert parquet.ok, parquet.summary()
    assert (parquet.objects, parquet.events, parquet.customers_matched) == (2, 21, 19)
    assert protobuf.ok, protobuf.summary()
    assert (protobuf.objects, protobuf.events, protobuf.customers_matched) == (1, 21, 19)


def test_parquet_duplicates_and_unreadable_objects_fail_the_check(
    db: Path, s3_client: Any, bucket: str
) -> None:
    events = snapshot(customer_rows(db))
    put_parquet(s3_client, bucket, key(0, extension="parquet"), events)
    put_parquet(s3_client, bucket, key(1, extension="parquet"), events[3:5])
    unreadable = key(2, extension="parquet")
    s3_client.put_object(Bucket=bucket, Key=unreadable, Body=b"PAR1 not really PAR1")

    report = verify(db, s3_client, bucket, object_format="parquet")

    assert not report.ok and report.customers_matched == 20
    assert report.duplicate_examples == ["sequence 4 x2", "sequence 5 x2"]
    assert report.undecodable_records == 1 and unreadable in report.undecodable_examples[0]
