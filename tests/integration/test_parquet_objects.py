"""The Parquet side of the bucket as data people use it: the pipeline run end to end with a
Protobuf and a Parquet consumer group, then the bucket read as a hive-partitioned dataset by
pyarrow and DuckDB, `chinook-pipeline query` compared with the database, and objects of an older
and a newer schema read together."""

import json
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from ptars import HandlerPool

from chinook_consumer.buffer import PartitionBuffer
from chinook_consumer.objects.formats.parquet import ParquetFormat
from chinook_consumer.objects.keys import HOUR_MS
from chinook_pipeline.local import kafka
from chinook_pipeline.tools.query import arrow_s3
from chinook_pipeline.tools.writer import ChangeWriter
from chinook_shared.arrow import _CONFIG, change_schema
from chinook_shared.changes import FIELD_NAMES, Customer, CustomerChange, Operation
from tests.conftest import Cli, consumer_command, customer_rows

pytestmark = pytest.mark.slow
PARQUET_PREFIX = "parquet"


def consume(cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, *extra: str) -> None:
    cli.run(*consumer_command(broker, topic, "--bucket", bucket, "--exit-when-idle", *extra))


@pytest.fixture()
def landed(cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path) -> Path:
    """A database whose snapshot and a few hundred inserts, updates and deletes are in the bucket
    twice: as Protobuf (group <topic>-pb, no prefix) and as Parquet (group <topic>-pq, prefix
    `parquet`), as `make dev` and compose run it."""
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "300")
    producer = ["producer", "--db", str(db), "--bootstrap-servers", broker.bootstrap_servers]
    cli.run(*producer, "--topic", topic, "--exit-when-idle")
    counts = ChangeWriter(db, seed=11).run(rate=2000, stop=threading.Event(), duration=0.3)
    assert counts.get("update") and counts.get("delete") and counts.get("insert"), counts
    cli.run(*producer, "--topic", topic, "--exit-when-idle")
    consume(cli, broker, topic, bucket, "--group-id", f"{topic}-pb")
    consume(
        cli,
        broker,
        topic,
        bucket,
        "--group-id",
        f"{topic}-pq",
        "--format",
        "parquet",
        "--prefix",
        PARQUET_PREFIX,
        "--flush-records",
        "150",
    )
    return db


def test_both_formats_verify(cli: Cli, landed: Path, bucket: str) -> None:
    for form, prefix in (("parquet", PARQUET_PREFIX), ("protobuf", "")):
        result = cli.run(
            "verify", "--db", str(landed), "--bucket", bucket, "--format", form, "--prefix", prefix
        )
        assert result.stdout.startswith("OK: "), result.stdout
        assert " 0 duplicate events" in result.stdout


def test_pyarrow_and_duckdb_read_the_bucket_as_a_hive_partitioned_dataset(
    landed: Path, bucket: str, topic: str, s3_client: Any, tmp_path: Path
) -> None:
    root = f"{bucket}/{PARQUET_PREFIX}/{topic}"
    dataset = ds.dataset(
        root, filesystem=arrow_s3(s3_client), format="parquet", partitioning="hive"
    )
    table = dataset.to_table()
    assert table.schema.field("after").type == change_schema().field("after").type
    for row in table.select(["dt", "hour", "kafka_timestamp"]).to_pylist():
        moment = row["kafka_timestamp"]  # each row sits in the hour of its own capture time
        assert (row["dt"], row["hour"]) == (moment.date().isoformat(), moment.hour)
    coordinates = table.select(["kafka_partition", "kafka_offset"]).to_pylist()
    assert len({tuple(c.values()) for c in coordinates}) == table.num_rows
    assert len(set(table["sequence"].to_pylist())) == table.num_rows

    mirror = tmp_path / "mirror"  # DuckDB reads S3 only through httpfs, unavailable offline
    listing = s3_client.get_paginator("list_objects_v2")
    for page in listing.paginate(Bucket=bucket, Prefix=f"{PARQUET_PREFIX}/{topic}/"):
        for item in page["Contents"]:
            local = mirror / item["Key"]
            local.parent.mkdir(parents=True, exist_ok=True)
            s3_client.download_file(bucket, item["Key"], str(local))
    rows = duckdb.sql(
        "SELECT count(*), count(DISTINCT sequence), count(DISTINCT (dt, hour)) FROM read_parquet("
        f"'{mirror}/{PARQUET_PREFIX}/{topic}/*/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    hours = len({(row["dt"], row["hour"]) for row in table.select(["dt", "hour"]).to_pylist()})
    assert rows == [(table.num_rows, table.num_rows, hours)]


def test_query_answers_the_current_state_of_the_database(
    cli: Cli, landed: Path, bucket: str
) -> None:
    database = [tuple(row) for row in customer_rows(landed)]
    columns = ", ".join(FIELD_NAMES)
    for form, prefix in (("parquet", PARQUET_PREFIX), ("protobuf", "")):
        result = cli.run(
            "query",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
            "--format",
            form,
            "--output",
            "json",
            f"SELECT {columns} FROM customers ORDER BY customer_id",
        )
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [tuple(row[name] for name in FIELD_NAMES) for row in rows] == database, form


def test_query_prints_a_table_and_csv(cli: Cli, landed: Path, bucket: str) -> None:
    sql = "SELECT op, count(*) AS events FROM customer_changes GROUP BY op ORDER BY op"
    where = ("--bucket", bucket, "--prefix", PARQUET_PREFIX)
    table = cli.run("query", *where, sql).stdout.splitlines()
    assert table[0].split() == ["op", "events"] and set(table[1]) == {"-", " "}
    assert table[2].split()[0] == "OPERATION_DELETE" and table[-1].endswith("rows)")
    csv = cli.run("query", *where, "--output", "csv", sql).stdout.splitlines()
    assert csv[0] == "op,events" and [line.split(",")[0] for line in csv[1:]] == [
        "OPERATION_DELETE",
        "OPERATION_INSERT",
        "OPERATION_SNAPSHOT",
        "OPERATION_UPDATE",
    ]


def test_query_errors_are_one_line(cli: Cli, bucket: str, s3_client: Any) -> None:
    empty = cli.run("query", "--bucket", bucket, "SELECT 1", check=False)
    assert empty.returncode == 1 and "no parquet objects under" in empty.stderr
    missing = cli.run("query", "--bucket", "no-such-bucket-here", "SELECT 1", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    put_changes(s3_client, bucket, "t/dt=2024-03-10/hour=10/t+0+00000000000000000001.parquet")
    bad = cli.run("query", "--bucket", bucket, "SELEC * FROM customers", check=False)
    assert bad.returncode == 1 and "bad SQL" in bad.stderr
    unknown = cli.run("query", "--bucket", bucket, "SELECT * FROM customer", check=False)
    assert unknown.returncode == 1 and "customer_changes and customers" in unknown.stderr
    assert 'Did you mean "customers"?' in unknown.stderr, "DuckDB's hint is kept"
    column = cli.run("query", "--bucket", bucket, "SELECT countr FROM customers", check=False)
    assert column.returncode == 1 and 'Candidate bindings: "country"' in column.stderr
    for result in (empty, missing, bad, unknown, column):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- a schema change -------------------------------------------------------------------------

T = 1_710_064_800_000  # 2024-03-10T10:00:00Z


def change(sequence: int) -> CustomerChange:
    event = CustomerChange(op=Operation.OPERATION_UPDATE, sequence=sequence, customer_id=sequence)
    event.captured_at.FromMilliseconds(T + sequence)
    event.after.CopyFrom(
        Customer(customer_id=sequence, first_name="Ana", last_name="Lee", email="a@x.org")
    )
    return event


def put_changes(s3_client: Any, bucket: str, key: str, first: int = 1) -> None:
    """Two changes from sequence `first` in a Parquet object as this code writes it."""
    buffer = PartitionBuffer(HOUR_MS)
    for sequence in (first, first + 1):
        buffer.add(sequence, T + sequence, change(sequence).SerializeToString(), now=0.0)
    (group,) = buffer.time_groups()
    s3_client.put_object(Bucket=bucket, Key=key, Body=ParquetFormat().encode(group, 0))


def newer_change_class() -> Any:
    """`CustomerChange` with one more field, `string channel = 7`, in a pool of its own: what
    a later version of proto/chinook/v1/customer.proto would generate."""
    file = descriptor_pb2.FileDescriptorProto()
    CustomerChange.DESCRIPTOR.file.CopyToProto(file)
    message = next(m for m in file.message_type if m.name == "CustomerChange")
    message.field.add(
        name="channel",
        number=7,
        json_name="channel",
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(CustomerChange.DESCRIPTOR.full_name)
    )


def test_objects_of_an_older_and_a_newer_schema_are_queried_together(
    cli: Cli, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    old_key = "t/dt=2024-03-10/hour=10/t+0+00000000000000000001.parquet"
    put_changes(s3_client, bucket, old_key)
    newer = newer_change_class()
    events = [newer.FromString(change(sequence).SerializeToString()) for sequence in (3, 4)]
    for event, channel in zip(events, ("web", "shop"), strict=True):
        event.channel = channel
    handler = HandlerPool([newer.DESCRIPTOR.file], _CONFIG).get_for_message(newer.DESCRIPTOR)
    batch = handler.list_to_record_batch([event.SerializeToString() for event in events])
    kafka = pa.table(
        {
            "kafka_partition": pa.array([0, 0], pa.int32()),
            "kafka_offset": [3, 4],
            "kafka_timestamp": pa.array([T + 3, T + 4], pa.timestamp("ms", tz="UTC")),
        }
    )
    newer_table = pa.Table.from_batches([batch])
    for name in kafka.column_names:
        newer_table = newer_table.append_column(name, kafka.column(name))
    assert newer_table.schema.names[-4:] == [
        "channel",
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp",
    ]
    new_key = "t/dt=2024-03-10/hour=11/t+0+00000000000000000003.parquet"
    local = tmp_path / "objects"
    for key in (old_key, new_key):
        (local / key).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(newer_table, local / new_key, compression="zstd")
    s3_client.upload_file(str(local / new_key), bucket, new_key)
    s3_client.download_file(bucket, old_key, str(local / old_key))

    rows = duckdb.sql(
        f"SELECT sequence, channel, hour FROM read_parquet('{local}/t/*/*/*.parquet', "
        "hive_partitioning = true, union_by_name = true) ORDER BY sequence"
    ).fetchall()
    assert rows == [(1, None, 10), (2, None, 10), (3, "web", 11), (4, "shop", 11)]

    # The query tool reads with the schema of the code it runs: the newer column is left out
    # until it is upgraded, and every row of both objects is there.
    result = cli.run(
        "query",
        "--bucket",
        bucket,
        "--output",
        "csv",
        "SELECT sequence, hour FROM customer_changes ORDER BY sequence",
    )
    assert result.stdout.splitlines() == ["sequence,hour", "1,10", "2,10", "3,11", "4,11"]
