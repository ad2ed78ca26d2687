"""`chinook-pipeline query`: SQL over what the consumers wrote, with DuckDB in this process.

Two views are ready:
- `customer_changes`: every change event (the columns of shared.arrow's schema), with the `dt`
  date and `hour` of its object's key (hive-hourly layout; NULL under the other layouts).
- `customers`: the current state, one row per customer: the `after` row of its change with the
  highest `sequence`, customers whose latest change is a delete left out; plus that change's
  `sequence` and `captured_at`.

DuckDB's own S3 reader (httpfs) is an extension it downloads at run time, which fails offline, so
the objects reach DuckDB as Arrow:
- Parquet: a pyarrow dataset over the listed `.parquet` keys through pyarrow's S3 filesystem,
  with `dt`/`hour` as hive partitions. DuckDB scans it lazily: only the columns a query uses are
  fetched (range requests) and filters on `dt`/`hour` skip whole objects. The dataset has the
  schema this code derives from the descriptor: columns an older object lacks read as NULL.
- Protobuf: each object is downloaded with boto3 and decoded through the descriptor
  (shared.arrow) into one in-memory table; the format has no columns to skip. Its
  `kafka_timestamp` is `captured_at` (the producer sets the Kafka timestamp to it) and its
  `kafka_offset` is NULL in an object whose offsets have gaps (dead-lettered records).

Credentials come from boto3's chain for both, as for every other tool. The same two views over
Iceberg tables instead of objects: chinook_pipeline/tools/query_tables.py.
"""

import re
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, Final

import boto3
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from chinook_pipeline.tools.objects import key_format, position
from chinook_pipeline.tools.verify import elsewhere, list_keys
from chinook_shared.arrow import KAFKA_OFFSET, KAFKA_TIMESTAMP, change_schema, changes_to_batch
from chinook_shared.errors import PipelineError
from chinook_shared.framing import unframe
from chinook_shared.s3 import check_bucket, describe_error

DOWNLOAD_THREADS: Final = 16
FETCH_ROWS: Final = 10_000
PARTITIONS: Final = pa.schema([pa.field("dt", pa.date32()), pa.field("hour", pa.int32())])
HIVE_HOUR: Final = re.compile(r"/dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/")
CUSTOMERS: Final = """
CREATE VIEW customers AS
SELECT after.*, sequence, captured_at
FROM customer_changes
QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY sequence DESC) = 1
    AND op <> 'OPERATION_DELETE'
"""
# Statements that are wrong in themselves (as opposed to failing while reading the objects).
SQL_ERRORS: Final = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
SQL_EXCERPT: Final = re.compile(r"^LINE \d+:", re.MULTILINE)  # where DuckDB quotes the statement


@dataclass(frozen=True)
class Result:
    """A statement's column names and its rows, fetched as they are consumed."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


def query_schema() -> pa.Schema:
    """`customer_changes`' columns: the change schema (kafka_offset nullable) and the key's."""
    fields = [f.with_nullable(True) if f.name == KAFKA_OFFSET else f for f in change_schema()]
    return pa.schema([*fields, *PARTITIONS])


def run_query(connection: duckdb.DuckDBPyConnection, sql: str) -> Result:
    """Run `sql` on a connection with the two views (`connect` or `query_tables.connect_tables`).

    Raises PipelineError when the SQL fails.
    """
    try:
        cursor = connection.execute(sql)
    except SQL_ERRORS as error:
        raise PipelineError(
            f"bad SQL: {_message(error)} (the views are customer_changes and customers)"
        ) from None
    except duckdb.Error as error:
        raise PipelineError(f"query failed: {_message(error)}") from None
    columns = [column[0] for column in cursor.description or ()]
    return Result(columns, _rows(cursor) if columns else iter(()))


def connect(
    s3_client: Any, bucket: str, prefix: str, object_format: str
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the two views over the bucket's objects.

    Raises PipelineError when the bucket cannot be read or holds no such objects.
    """
    check_bucket(s3_client, bucket)
    listed = list_keys(s3_client, bucket, prefix)
    keys = [key for key in listed if key_format(key, prefix) == object_format]
    if not keys:
        where = f"s3://{bucket}/{prefix.strip('/')}"
        fix = "; ".join(elsewhere(listed, object_format)) or (
            f"yet: run a consumer with --format {object_format} (or query the other --format, or "
            "fix --bucket/--prefix)"
        )
        raise PipelineError(f"no {object_format} objects under {where}: {fix}")
    connection = new_connection()
    if object_format == "parquet":
        source: Any = parquet_dataset(s3_client, bucket, keys)
    else:
        source = protobuf_table(s3_client, bucket, keys)
    connection.register("chinook_objects", source)
    connection.execute("CREATE VIEW customer_changes AS SELECT * FROM chinook_objects")
    connection.execute(CUSTOMERS)
    return connection


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection showing timestamps in UTC, as `dt` and `hour` are."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def parquet_dataset(s3_client: Any, bucket: str, keys: Sequence[str]) -> ds.Dataset:
    return ds.dataset(
        [f"{bucket}/{key}" for key in keys],
        schema=query_schema(),
        format="parquet",
        filesystem=arrow_s3(s3_client),
        partitioning=ds.partitioning(PARTITIONS, flavor="hive"),
    )


def arrow_s3(s3_client: Any) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem on the client's endpoint, with boto3's credentials."""
    credentials = boto3.session.Session().get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials else None
    endpoint = s3_client.meta.endpoint_url
    return pafs.S3FileSystem(
        access_key=frozen.access_key if frozen else None,
        secret_key=frozen.secret_key if frozen else None,
        session_token=frozen.token if frozen else None,
        anonymous=frozen is None,
        region=s3_client.meta.region_name or "us-east-1",
        endpoint_override=None if endpoint.endswith(".amazonaws.com") else endpoint,
    )


def protobuf_table(s3_client: Any, bucket: str, keys: Sequence[str]) -> pa.Table:
    download = partial(_download, s3_client, bucket)
    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        batches = [
            protobuf_batch(key, *fetched)
            for key, fetched in zip(keys, pool.map(download, keys), strict=True)
        ]
    return pa.Table.from_batches(batches, schema=query_schema())


def protobuf_batch(key: str, body: bytes, metadata: dict[str, str]) -> pa.RecordBatch:
    """One Protobuf object's changes as rows of `query_schema()`."""
    partition, first = position(key)
    try:
        values = list(unframe(body))
        batch = changes_to_batch(
            values, partition, range(first, first + len(values)), [0] * len(values)
        )
    except (ValueError, OSError, EOFError, zlib.error) as error:
        raise PipelineError(f"{key} is not a readable Protobuf object: {error}") from None
    dense = int(metadata.get("last-offset", -1)) == first + len(values) - 1
    columns = {name: batch.column(name) for name in batch.schema.names}
    columns[KAFKA_TIMESTAMP] = pc.cast(columns["captured_at"], pa.timestamp("ms", tz="UTC"))
    if not dense:
        columns[KAFKA_OFFSET] = pa.nulls(len(values), pa.int64())
    day, hour = _hive_hour(key)
    columns["dt"] = pa.array([day] * len(values), pa.date32())
    columns["hour"] = pa.array([hour] * len(values), pa.int32())
    return pa.RecordBatch.from_pydict(columns, schema=query_schema())


def _hive_hour(key: str) -> tuple[date | None, int | None]:
    match = HIVE_HOUR.search(f"/{key}")
    if match is None:
        return None, None
    year, month, day, hour = (int(part) for part in match.groups())
    return date(year, month, day), hour


def _download(s3_client: Any, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
    try:
        response = s3_client.get_object(Bucket=bucket, Key=key)
        return bytes(response["Body"].read()), dict(response.get("Metadata", {}))
    except Exception as error:
        raise PipelineError(
            f"cannot download s3://{bucket}/{key}: {describe_error(error)}"
        ) from None


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[Any, ...]]:
    try:
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows
    except duckdb.Error as error:
        raise PipelineError(f"query failed: {_message(error)}") from None


def _message(error: Exception) -> str:
    """DuckDB's message on one line with its hints (`Did you mean "customers"?`, `Candidate
    bindings: ...`); the `LINE n:` excerpt, whose caret needs a line of its own, left out."""
    head = SQL_EXCERPT.split(str(error).strip(), maxsplit=1)[0]
    return " ".join(line.strip() for line in head.splitlines() if line.strip())
