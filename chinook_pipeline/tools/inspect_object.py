"""Read one object (in S3 or on disk) back as plain records, for people and for `jq`.

Both formats print the same JSON per change (the Protobuf JSON mapping); a Parquet row adds the
Kafka coordinates it carries (`kafka_partition`, `kafka_offset`, `kafka_timestamp`).
"""

import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from chinook_pipeline.tools.objects import is_parquet, parquet_batches
from chinook_shared.arrow import KAFKA_OFFSET, KAFKA_PARTITION, KAFKA_TIMESTAMP, batch_to_changes
from chinook_shared.bucket_name import check_bucket_name
from chinook_shared.changes import CustomerChange
from chinook_shared.errors import PipelineError
from chinook_shared.framing import unframe
from chinook_shared.s3 import describe_error

S3_SCHEME = "s3://"


def iter_records(source: str, s3_client_factory: Callable[[], Any]) -> Iterator[dict[str, Any]]:
    """Each record of `source` (`s3://BUCKET/KEY` or a local path) as a JSON-ready dict.

    A record that does not decode becomes {"error": ..., "index": i} and the rest still follow;
    a stream truncated in the middle ends with one such entry.
    """
    data = _read(source, s3_client_factory)
    if is_parquet(data):
        yield from _parquet_records(data)
        return
    index = 0
    try:
        for record in unframe(data):
            try:
                yield MessageToDict(
                    CustomerChange.FromString(record), preserving_proto_field_name=True
                )
            except DecodeError as error:
                yield {"error": f"not a CustomerChange: {error}", "index": index}
            index += 1
    except (ValueError, OSError, EOFError, zlib.error) as error:
        yield {"error": f"cannot read the stream: {error}", "index": index}


def _parquet_records(data: bytes) -> Iterator[dict[str, Any]]:
    index = 0
    try:
        for batch in parquet_batches(data):
            kafka = zip(
                batch.column(KAFKA_PARTITION).to_pylist(),
                batch.column(KAFKA_OFFSET).to_pylist(),
                batch.column(KAFKA_TIMESTAMP).to_pylist(),
                strict=True,
            )
            for value, (partition, offset, timestamp) in zip(
                batch_to_changes(batch), kafka, strict=True
            ):
                record = MessageToDict(
                    CustomerChange.FromString(value), preserving_proto_field_name=True
                )
                yield {
                    **record,
                    KAFKA_PARTITION: partition,
                    KAFKA_OFFSET: offset,
                    KAFKA_TIMESTAMP: _rfc3339(timestamp),
                }
                index += 1
    except (pa.ArrowException, OSError, KeyError, DecodeError) as error:
        yield {"error": f"cannot read the Parquet object: {error}", "index": index}


def _rfc3339(moment: datetime) -> str:
    """`2024-03-10T10:00:00.005Z`: the form the Protobuf JSON mapping gives `captured_at`."""
    return f"{moment:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"


def parse_s3_url(source: str) -> tuple[str, str]:
    """("bucket", "key") of `s3://bucket/key`, or PipelineError."""
    bucket, _, key = source[len(S3_SCHEME) :].partition("/")
    if not bucket or not key:
        raise PipelineError(f"{source!r} is not an object URL: write s3://BUCKET/KEY")
    try:
        check_bucket_name(bucket)
    except ValueError as error:
        raise PipelineError(str(error)) from None
    return bucket, key


def _read(source: str, s3_client_factory: Callable[[], Any]) -> bytes:
    if not source.startswith(S3_SCHEME):
        path = Path(source)
        if not path.is_file():
            raise PipelineError(
                f"{source} is not a file: give a local object file or s3://BUCKET/KEY"
            )
        return path.read_bytes()
    bucket, key = parse_s3_url(source)
    client = s3_client_factory()
    try:
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404", "NotFound"}:
            raise PipelineError(
                f"{source} does not exist: list the bucket to find the key"
            ) from None
        if code == "NoSuchBucket":
            raise PipelineError(f"bucket {bucket!r} does not exist: check the URL") from None
        raise PipelineError(f"cannot read {source}: {describe_error(error)}") from None
