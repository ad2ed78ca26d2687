"""A whole read of change rows as serialized `CustomerChange` messages at once: the rows' columns
become Arrow arrays and ptars (in Rust) serializes every message of the batch, so no per-row
message object is built in Python (about 2 us a row instead of about 3.5 us with upb objects).

Arrow's conversion is the type check: a column whose values are not all of its field's type
(SQLite's loose typing lets a text column hold a blob, an integer column a real) is refused
rather than coerced, as is an unknown operation or a message over the size limit. The whole
read then goes row by row through `producer.encoder`, which names the culprit for its dead
letter. Both encoders give the same bytes for the same row.
"""

from functools import cache
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from ptars import HandlerPool, PtarsConfig

from producer.change_log import ChangeRows
from producer.dead_letters import MAX_MESSAGE_BYTES
from producer.encoder import OPERATIONS
from shared.changes import COLUMNS, CustomerChange

_OPERATION_NAMES: Final = pa.array(list(OPERATIONS))
_OPERATION_VALUES: Final = pa.array(list(OPERATIONS.values()), pa.int32())
_TIMESTAMP: Final = pa.timestamp("ms", tz="UTC")


@cache
def _handler() -> Any:  # ptars ships no type stub for its Rust handler
    config = PtarsConfig(timestamp_unit="ms", timestamp_tz="UTC")
    pool = HandlerPool([CustomerChange.DESCRIPTOR.file], config)
    return pool.get_for_message(CustomerChange.DESCRIPTOR)


@cache
def _schema() -> pa.Schema:
    return _handler().list_to_record_batch([]).schema


def encode_batch(changes: ChangeRows) -> list[bytes] | None:
    """Every change of the read, serialized, in order; None when the batch encoder refuses the
    read (a value not of its field's type, an unknown operation, a message too large)."""
    batch = _record_batch(changes)
    if batch is None:
        return None
    values = _handler().record_batch_to_array(batch)
    if pc.max(pc.binary_length(values)).as_py() > MAX_MESSAGE_BYTES:
        return None
    return values.to_pylist()  # type: ignore[no-any-return]


def _record_batch(changes: ChangeRows) -> pa.RecordBatch | None:
    schema = _schema()
    fields = list(schema.field("after").type)
    try:
        operations = pc.index_in(pa.array(changes.column("op"), pa.string()), _OPERATION_NAMES)
        seq, customer_id, captured_at = (
            _column(changes.column(name), pa.int64(), required=True)
            for name in ("seq", "customer_id", "captured_at_ms")
        )
        customer = [
            _column(changes.column(column), field.type, required=not field.nullable)
            for (column, _), field in zip(COLUMNS, fields, strict=True)
        ]
    except (_Refused, pa.ArrowException, OverflowError):
        return None
    if operations.null_count:
        return None
    deletes = pc.equal(operations, list(OPERATIONS).index("delete"))
    return pa.RecordBatch.from_arrays(
        [
            pc.take(_OPERATION_VALUES, operations),
            seq,
            captured_at.cast(_TIMESTAMP),
            customer_id,
            pa.StructArray.from_arrays(customer, fields=fields, mask=deletes),
            pa.StructArray.from_arrays(customer, fields=fields, mask=pc.invert(deletes)),
        ],
        schema=schema,
    )


class _Refused(Exception):
    """A column the batch encoder will not vouch for."""


def _column(values: tuple[Any, ...], kind: pa.DataType, required: bool) -> pa.Array:
    """The values as an array of `kind`; _Refused when a value is of another type (inferred,
    not converted: a blob or a real does not pass as text or an integer), or NULL where the
    field is required."""
    array = pa.array(values)
    if pa.types.is_null(array.type):  # every value NULL
        array = pa.nulls(len(values), kind)
    if array.type != kind or (required and array.null_count):
        raise _Refused
    return array
