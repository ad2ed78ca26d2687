"""End-to-end check: rebuild every customer from the objects in S3 and compare with the database.

Only the consumer's objects under the prefix given are read (chinook_pipeline/tools/objects.py:
its key layout, one format at a time), whatever else the bucket holds: another sink's prefix, an
Iceberg warehouse, stray keys. A bucket holding both formats (two consumer groups, see docs/objects.md) is
verified once per format and prefix. The latest
state of a customer is the change with the highest `sequence` (sequences are strictly increasing
in the source), so the result does not depend on object order, partition order or replays. A
change whose sequence occurs more than once was written to S3 more than once.
"""

import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
from google.protobuf.message import DecodeError

from chinook_pipeline.tools.objects import key_format, parquet_batches, prefixes_of
from chinook_shared.arrow import batch_to_changes
from chinook_shared.changes import COLUMN_NAMES, CustomerChange, Operation, customer_to_row
from chinook_shared.errors import PipelineError
from chinook_shared.framing import unframe
from chinook_shared.names import JOURNAL_DIR
from chinook_shared.s3 import check_bucket, describe_error

MAX_EXAMPLES: Final = 5
DOWNLOAD_THREADS: Final = 16
# Objects downloaded ahead of decoding: bounds memory however large the bucket is.
DOWNLOAD_WINDOW: Final = 4 * DOWNLOAD_THREADS


@dataclass
class VerifyReport:
    """What S3 holds compared with the database; `ok` only when they agree exactly."""

    objects: int = 0
    kind: str = "objects"  # what `objects` counts: objects, or a table's data files
    source: str = "S3"  # what was compared with the database, for the summary's labels
    events: int = 0
    customers_matched: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    duplicate_events: int = 0
    undecodable_records: int = 0
    missing_examples: list[int] = field(default_factory=list)
    extra_examples: list[int] = field(default_factory=list)
    different_examples: list[str] = field(default_factory=list)
    duplicate_examples: list[str] = field(default_factory=list)
    undecodable_examples: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.different
            or self.duplicate_events
            or self.undecodable_records
        )

    def summary(self) -> str:
        head = (
            f"{'OK' if self.ok else 'MISMATCH'}: {self.objects} {self.kind}, {self.events} events, "
            f"{self.customers_matched} customers match, {self.missing} missing, {self.extra} extra, "
            f"{self.different} different, {self.duplicate_events} duplicate events"
        )
        if self.undecodable_records:
            head += f", {self.undecodable_records} undecodable records"
        lines = [head]
        for label, examples in (
            (f"missing from {self.source} (customer ids)", self.missing_examples),
            (f"in {self.source} but not in the database (customer ids)", self.extra_examples),
            ("different", self.different_examples),
            ("duplicate events", self.duplicate_examples),
            ("undecodable", self.undecodable_examples),
        ):
            if examples:
                separator = ", " if isinstance(examples[0], int) else "; "
                lines.append(f"  {label}: " + separator.join(str(example) for example in examples))
        lines += [f"  hint: {hint}" for hint in self.hints]
        return "\n".join(lines)


def is_journal_key(key: str) -> bool:
    """The consumer's own bookkeeping objects, which are not change events (the bench counts
    what else is under a prefix)."""
    return f"/{JOURNAL_DIR}/" in f"/{key}"


def verify(
    db_path: Path, s3_client: Any, bucket: str, prefix: str = "", object_format: str = "protobuf"
) -> VerifyReport:
    """Compare the customers rebuilt from the `object_format` objects of `s3://bucket/prefix` with
    the database's `Customer` rows.

    Raises PipelineError when the database, its Customer table or the bucket cannot be read.
    """
    database = read_customers(db_path)
    check_bucket(s3_client, bucket)
    report = VerifyReport()
    listed = list_keys(s3_client, bucket, prefix)
    keys = [key for key in listed if key_format(key, prefix) == object_format]
    if not keys:
        report.hints += elsewhere(listed, object_format)
    decode = _decode_parquet if object_format == "parquet" else _decode
    report.objects = len(keys)
    latest: dict[int, CustomerChange] = {}
    seen: Counter[int] = Counter()
    download = partial(_download, s3_client, bucket)
    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        for start in range(0, len(keys), DOWNLOAD_WINDOW):
            window = keys[start : start + DOWNLOAD_WINDOW]
            for key, data in zip(window, pool.map(download, window), strict=True):
                for change in decode(key, data, report):
                    report.events += 1
                    seen[change.sequence] += 1
                    current = latest.get(change.customer_id)
                    if current is None or change.sequence > current.sequence:
                        latest[change.customer_id] = change
    _count_duplicates(seen, report)
    rebuilt = {
        customer_id: customer_to_row(change.after)
        for customer_id, change in latest.items()
        if change.op != Operation.OPERATION_DELETE
    }
    _compare(database, rebuilt, report)
    return report


def read_customers(db_path: Path) -> dict[int, tuple[object, ...]]:
    """Every `Customer` row by id, read without ever creating or changing the file."""
    if not db_path.is_file():
        raise PipelineError(f"database {db_path} does not exist: give the --db the producer reads")
    columns = ", ".join(f"[{column}]" for column in COLUMN_NAMES)
    try:
        with closing(
            sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        ) as connection:
            rows = connection.execute(f"SELECT {columns} FROM Customer").fetchall()
    except sqlite3.DatabaseError as error:
        raise PipelineError(f"cannot read the Customer table of {db_path}: {error}") from None
    return {int(row[0]): tuple(row) for row in rows}


def list_keys(s3_client: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix`."""
    listing_prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys: list[str] = []
    try:
        for page in s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=listing_prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    except Exception as error:
        raise PipelineError(
            f"cannot list s3://{bucket}/{listing_prefix}: {describe_error(error)}"
        ) from None
    return keys


def elsewhere(keys: list[str], object_format: str) -> list[str]:
    """Where the consumer's `object_format` objects are when none are under the given prefix."""
    return [
        f"the consumer's {object_format} objects are under --prefix {prefix}"
        for prefix in prefixes_of(keys, object_format)
    ]


def _download(s3_client: Any, bucket: str, key: str) -> bytes:
    try:
        return bytes(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as error:
        raise PipelineError(
            f"cannot download s3://{bucket}/{key}: {describe_error(error)}"
        ) from None


def _decode(key: str, data: bytes, report: VerifyReport) -> Iterator[CustomerChange]:
    """The object's change events; what does not decode is counted in `report`, not raised."""
    index = 0
    try:
        for record in unframe(data):
            try:
                yield CustomerChange.FromString(record)
            except DecodeError as error:
                _note_undecodable(report, f"{key} record {index}: {error}")
            index += 1
    except (ValueError, OSError, EOFError, zlib.error) as error:
        _note_undecodable(report, f"{key} record {index}: {error}")


def _decode_parquet(key: str, data: bytes, report: VerifyReport) -> Iterator[CustomerChange]:
    """The object's change events, back through the descriptor (shared.arrow); an unreadable
    object counts as one undecodable record."""
    try:
        for batch in parquet_batches(data):
            for value in batch_to_changes(batch):
                yield CustomerChange.FromString(value)
    except (pa.ArrowException, OSError, DecodeError) as error:
        _note_undecodable(report, f"{key}: {error}")


def _note_undecodable(report: VerifyReport, example: str) -> None:
    report.undecodable_records += 1
    if len(report.undecodable_examples) < MAX_EXAMPLES:
        report.undecodable_examples.append(example)


def _count_duplicates(seen: Counter[int], report: VerifyReport) -> None:
    duplicated = sorted(sequence for sequence, count in seen.items() if count > 1)
    report.duplicate_events = len(duplicated)
    report.duplicate_examples = [
        f"sequence {sequence} x{seen[sequence]}" for sequence in duplicated[:MAX_EXAMPLES]
    ]


def _compare(
    database: dict[int, tuple[object, ...]],
    rebuilt: dict[int, tuple[object, ...]],
    report: VerifyReport,
    found_as: str = "s3",
) -> None:
    missing = sorted(database.keys() - rebuilt.keys())
    extra = sorted(rebuilt.keys() - database.keys())
    report.missing, report.missing_examples = len(missing), missing[:MAX_EXAMPLES]
    report.extra, report.extra_examples = len(extra), extra[:MAX_EXAMPLES]
    for customer_id in sorted(database.keys() & rebuilt.keys()):
        expected, found = database[customer_id], rebuilt[customer_id]
        if expected == found:
            report.customers_matched += 1
            continue
        report.different += 1
        if len(report.different_examples) < MAX_EXAMPLES:
            fields = ", ".join(
                f"{column} db={want!r} {found_as}={got!r}"
                for column, want, got in zip(COLUMN_NAMES, expected, found, strict=True)
                if want != got
            )
            report.different_examples.append(f"customer {customer_id}: {fields}")
