"""Test helpers for the tables: change events as the producer encodes them, as record batches."""

from collections.abc import Sequence

import pyarrow as pa

from chinook_shared.arrow import changes_to_batch
from chinook_shared.changes import Customer, CustomerChange, Operation

DAY_MS = 86_400_000
BASE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def change(
    sequence: int,
    customer_id: int,
    op: int = Operation.OPERATION_UPDATE,
    city: str = "Oslo",
    captured_ms: int | None = None,
) -> bytes:
    """One serialized CustomerChange; `after` carries `city` unless it is a delete."""
    message = CustomerChange(op=op, sequence=sequence, customer_id=customer_id)
    message.captured_at.FromMilliseconds(BASE_MS + sequence if captured_ms is None else captured_ms)
    row = Customer(customer_id=customer_id, first_name="A", last_name="B", email="e", city=city)
    if op == Operation.OPERATION_DELETE:
        message.before.CopyFrom(row)
    else:
        message.after.CopyFrom(row)
    return message.SerializeToString()


def batch(partition: int, first_offset: int, values: Sequence[bytes]) -> tuple[pa.RecordBatch, int]:
    """(record batch, next offset) of consecutive records from `first_offset`."""
    offsets = list(range(first_offset, first_offset + len(values)))
    timestamps = [BASE_MS + offset for offset in offsets]
    return changes_to_batch(values, partition, offsets, timestamps), first_offset + len(values)


def inserts(
    partition: int, first_offset: int, count: int, first_customer: int = 1
) -> tuple[pa.RecordBatch, int]:
    """`count` inserts of new customers, sequence = customer id."""
    values = [
        change(first_customer + i, first_customer + i, Operation.OPERATION_INSERT)
        for i in range(count)
    ]
    return batch(partition, first_offset, values)
