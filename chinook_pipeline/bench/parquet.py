"""The Parquet consumer in the bench: topic -> Parquet in S3, committed, timed like the Protobuf
consumer on the same topic in the same run (so beside the same raw consume limit), and what each
format stores per record."""

from typing import Any

from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.throughput import consume
from chinook_pipeline.tools.verify import is_journal_key
from chinook_shared.errors import PipelineError


def parquet_consumer(bench: Session, topic: str, total: int, repeat: int) -> None:
    """Figures `consumer_parquet` (records/s), `bytes_parquet` and `bytes_protobuf` (object bytes
    per record; the Protobuf objects are those of this run's single-consumer figure)."""
    stack = bench.stack
    group = stack.name("sink-parquet", repeat)
    consume(bench, "consumer_parquet", topic, total, group, 1, "--format", "parquet")
    client = stack.s3_client()
    for figure, prefix in (
        ("bytes_parquet", group),
        ("bytes_protobuf", stack.name("sink", repeat, 1)),
    ):
        objects, size = stored(client, stack.bucket, prefix)
        if not objects:
            raise PipelineError(f"{figure}: no objects under s3://{stack.bucket}/{prefix}/")
        bench.record(figure, size / total, records=total, objects=objects, bytes=size)


def stored(client: Any, bucket: str, prefix: str) -> tuple[int, int]:
    """(objects, bytes) of the data objects under `prefix` (journal objects left out)."""
    sizes = [
        item["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/"
        )
        for item in page.get("Contents", [])
        if not is_journal_key(item["Key"])
    ]
    return len(sizes), sum(sizes)
