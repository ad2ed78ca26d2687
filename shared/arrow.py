"""Change events as Arrow record batches: the one conversion Parquet objects and tables share.

The columns come from the Protobuf descriptor at run time (through ptars, in Rust), never from a
hand-written list, so a field added to `proto/` flows into Parquet and Iceberg by itself: nested
messages become structs (`after.first_name`), enums their names, `Timestamp` a UTC timestamp in
microseconds (what Iceberg v2 stores), `optional` fields nullable. Each row also carries the
Kafka coordinates it came from, so any row can be traced back to its record.
"""

from collections.abc import Sequence
from functools import cache
from typing import Final

import pyarrow as pa
from ptars import HandlerPool, PtarsConfig

from chinook_shared.changes import CustomerChange

_CONFIG: Final = PtarsConfig(enum_repr="string", timestamp_unit="us", timestamp_tz="UTC")

KAFKA_PARTITION: Final = "kafka_partition"
KAFKA_OFFSET: Final = "kafka_offset"
KAFKA_TIMESTAMP: Final = "kafka_timestamp"
KAFKA_FIELDS: Final = (
    pa.field(KAFKA_PARTITION, pa.int32(), nullable=False),
    pa.field(KAFKA_OFFSET, pa.int64(), nullable=False),
    pa.field(KAFKA_TIMESTAMP, pa.timestamp("ms", tz="UTC"), nullable=False),
)


@cache
def _handler():  # type: ignore[no-untyped-def]  # ptars ships no stub for its Rust handler
    pool = HandlerPool([CustomerChange.DESCRIPTOR.file], _CONFIG)
    return pool.get_for_message(CustomerChange.DESCRIPTOR)


@cache
def change_schema() -> pa.Schema:
    """The schema of every batch `changes_to_batch` returns."""
    empty = _handler().list_to_record_batch([])
    return pa.schema([*empty.schema, *KAFKA_FIELDS])


def changes_to_batch(
    values: Sequence[bytes], partition: int, offsets: Sequence[int], timestamps: Sequence[int]
) -> pa.RecordBatch:
    """Serialized `CustomerChange` messages of one partition, with their offsets and Kafka
    timestamps (epoch milliseconds), as one record batch. Raises when a value does not parse."""
    changes = _handler().list_to_record_batch(list(values))
    count = len(values)
    kafka = [
        pa.array([partition] * count, pa.int32()),
        pa.array(offsets, pa.int64()),
        pa.array(timestamps, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
    ]
    return pa.RecordBatch.from_arrays([*changes.columns, *kafka], schema=change_schema())


def batch_to_changes(batch: pa.RecordBatch) -> list[bytes]:
    """The serialized `CustomerChange` messages of a batch (the Kafka columns are dropped)."""
    payload = batch.select([name for name in batch.schema.names if not name.startswith("kafka_")])
    return [bytes(value.as_py()) for value in _handler().record_batch_to_array(payload)]
