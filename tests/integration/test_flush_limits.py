"""`--flush-records` and `--flush-bytes` are exact limits, on real parts (Kafka, moto S3, a SQLite
Iceberg catalog): with small limits, every object (Protobuf or Parquet) holds at most
`--flush-records` records and at most `--flush-bytes` value bytes (a larger record alone), every
table commit (its snapshot's `added-records`) and data file at most `--flush-records` records,
while every record still lands exactly once and the committed offsets reach the end of the log."""

import io
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from chinook_consumer.service import run_consumer
from chinook_consumer.tables.definitions import open_change_table
from chinook_consumer.tables.retention import MAX_AGE
from chinook_pipeline.local import kafka
from chinook_pipeline.tools.verify import is_journal_key
from chinook_shared.arrow import KAFKA_OFFSET, KAFKA_PARTITION
from chinook_shared.changes import Customer, CustomerChange, Operation
from chinook_shared.health import Health
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.s3 import S3Settings
from tests.integration.test_consumer_service import Sent, committed, consumer_settings, produce
from tests.table_cli import CHANGES, catalog_uri

RECORDS, BYTES = 7, 300  # --flush-records, --flush-bytes
PARTITIONS = 3


def value(sequence: int) -> bytes:
    """A change of 40 to 100 bytes; every 10th about 180 (cuts by bytes), every 37th over
    BYTES (a batch of its own)."""
    pad = 600 if sequence % 37 == 5 else 150 if sequence % 10 == 3 else sequence % 60
    message = CustomerChange(op=Operation.OPERATION_UPDATE, sequence=sequence, customer_id=7)
    message.after.CopyFrom(
        Customer(customer_id=7, first_name="A", last_name="B", email=f"{sequence}@" + "x" * pad)
    )
    return message.SerializeToString()


def send(bootstrap: str, topic: str, first: int, count: int) -> list[Sent]:
    now = int(time.time() * 1000)
    items = [(value(s), now + s, s) for s in range(first, first + count)]
    return produce(bootstrap, topic, items, PARTITIONS)


def ends(sent: list[Sent]) -> dict[int, int]:
    """{partition: its end offset}, the offset each partition's commit must reach."""
    result = dict.fromkeys(range(PARTITIONS), -1001)  # nothing committed
    for record in sent:
        result[record.partition] = max(result[record.partition], record.offset + 1)
    return result


def check_batch(sizes: list[int], what: str) -> None:
    assert 0 < len(sizes) <= RECORDS, f"{what}: {len(sizes)} records"
    assert sum(sizes) <= BYTES or len(sizes) == 1, f"{what}: {sum(sizes)} value bytes"


def object_records(s3: Any, bucket: str, sent: list[Sent]) -> list[list[Sent]]:
    """The records of every data object, checked against its metadata and body."""
    by_offset = {(s.partition, s.offset): s for s in sent}
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/"):
        for item in page.get("Contents", []):
            if is_journal_key(item["Key"]):
                continue
            response = s3.get_object(Bucket=bucket, Key=item["Key"])
            meta, body = response["Metadata"], response["Body"].read()
            partition = int(item["Key"].rsplit("+", 2)[1])
            first, last = int(meta["first-offset"]), int(meta["last-offset"])
            records = [by_offset[(partition, o)] for o in range(first, last + 1)]
            assert int(meta["record-count"]) == len(records), item["Key"]
            if item["Key"].endswith(".parquet"):
                rows = pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
                assert rows == len(records), item["Key"]
            objects.append(records)
    return objects


@pytest.mark.parametrize("form", ["protobuf", "parquet"])
def test_no_object_passes_the_limits(
    broker: kafka.Cluster, s3_client: Any, bucket: str, topic: str, form: str
) -> None:
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    options = {"flush_records": RECORDS, "flush_bytes": BYTES, "format": form}
    sent: list[Sent] = []
    for first, count in ((0, 100), (100, 30)):  # the second run resumes from the commits
        sent += send(bootstrap, topic, first, count)
        run_consumer(
            consumer_settings(bootstrap, bucket, topic, group, **options),
            Health(),
            threading.Event(),
        )

        objects = object_records(s3_client, bucket, sent)
        for records in objects:
            check_batch([len(r.value) for r in records], f"object at {records[0]}")
        assert Counter(r.sequence for records in objects for r in records) == Counter(
            range(first + count)
        )
        assert committed(bootstrap, group, topic, PARTITIONS) == ends(sent)
    counts = Counter(len(records) for records in objects)
    assert counts[RECORDS] and counts[1], counts  # cut by count, by bytes, and big ones alone


def test_no_table_commit_or_data_file_passes_the_limits(
    broker: kafka.Cluster, s3_client: Any, bucket: str, topic: str, tmp_path: Path
) -> None:
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    catalog = CatalogSettings(uri=catalog_uri(tmp_path), warehouse=f"s3://{bucket}/iceberg")
    table = open_change_table(open_catalog(catalog, S3Settings()), CHANGES)
    with table.transaction() as transaction:  # keep every snapshot: each commit is checked
        transaction.set_properties({MAX_AGE: str(86_400_000)})
    sent = send(bootstrap, topic, 0, 60)
    options = {"flush_records": RECORDS, "flush_bytes": BYTES, "table": CHANGES}
    run_consumer(
        consumer_settings(bootstrap, None, topic, group, catalog=catalog, **options),  # type: ignore[arg-type]
        Health(),
        threading.Event(),
    )

    table = table.refresh()
    added = [
        int(s.summary["added-records"])
        for s in table.snapshots()
        if s.summary is not None and "added-records" in s.summary
    ]
    assert added and max(added) <= RECORDS and sum(added) == len(sent), added
    files = table.inspect.files().column("record_count").to_pylist()
    assert files and max(files) <= RECORDS and sum(files) == len(sent), files
    rows = table.scan(selected_fields=(KAFKA_PARTITION, KAFKA_OFFSET)).to_arrow().to_pylist()
    assert Counter((r[KAFKA_PARTITION], r[KAFKA_OFFSET]) for r in rows) == Counter(
        (s.partition, s.offset) for s in sent
    )
    assert committed(bootstrap, group, topic, PARTITIONS) == ends(sent)
