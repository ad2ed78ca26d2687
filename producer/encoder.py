"""Change rows of the capture table as serialized `CustomerChange` messages.

Two paths, one result (both give the same bytes for the same row):
- a whole read at once (`encode_batch`): the rows' columns become Arrow arrays and ptars (in
  Rust) serializes every message of the read, so no per-row message object is built in Python
  (about 2 us a row instead of about 3.5 us with upb objects). Arrow's conversion is the type
  check: a column whose values are not all of its field's type (SQLite's loose typing lets a text
  column hold a blob, an integer column a real) is refused rather than coerced, as is an unknown
  operation or a message over the size limit;
- row by row (`ChangeEncoder`), for a read the batch path refused: it names the column whose value
  does not fit its field, for the dead letter.
"""

from collections.abc import Sequence
from functools import cache
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from ptars import HandlerPool, PtarsConfig

from chinook_producer.change_log import ChangeRow, ChangeRows
from chinook_shared.changes import COLUMNS, FIELD_NAMES, CustomerChange, Operation

OPERATIONS: Final[dict[str, int]] = {
    "snapshot": Operation.OPERATION_SNAPSHOT,
    "insert": Operation.OPERATION_INSERT,
    "update": Operation.OPERATION_UPDATE,
    "delete": Operation.OPERATION_DELETE,
}
_DELETE: Final = Operation.OPERATION_DELETE
_INTEGER_FIELDS: Final = frozenset({"customer_id", "support_rep_id"})
_FIELD_TYPES: Final = tuple(int if name in _INTEGER_FIELDS else str for name in FIELD_NAMES)
# A serialized change starts with `op` (field 1, one byte: 1..4) and then `sequence` (field 2):
# the tag bytes of both, as upb and ptars write them.
_OP_TAG: Final = 0x08
_SEQUENCE_TAG: Final = 0x10
MAX_MESSAGE_BYTES: Final = 1024 * 1024  # a larger encoded change is dead-lettered
_OPERATION_NAMES: Final = pa.array(list(OPERATIONS))
_OPERATION_VALUES: Final = pa.array(list(OPERATIONS.values()), pa.int32())
_TIMESTAMP: Final = pa.timestamp("ms", tz="UTC")


class UnencodableRow(ValueError):
    """A change row whose values do not fit the schema (SQLite's loose typing allows it)."""


class ChangeEncoder:
    """Encodes change rows.

    A NULL column leaves its field unset; the Customer row goes to `after` for snapshots, inserts
    and updates, and to `before` for deletes. Every row gets fresh message objects: a reused
    upb message keeps growing its arena, so reuse costs memory in proportion to the backlog.
    """

    def encode(self, row: ChangeRow) -> bytes:
        """The serialized change; raises UnencodableRow for a value of the wrong type.

        Fields are assigned one by one on a fresh message: for upb this is about twice as fast
        as keyword construction.
        """
        seq = row["seq"]
        operation = OPERATIONS.get(row["op"])
        if operation is None:
            raise UnencodableRow(f"change {seq}: unknown operation {row['op']!r}")
        values = [row[column] for column, _ in COLUMNS]
        try:
            seconds, millis = divmod(int(row["captured_at_ms"]), 1000)
            change = CustomerChange(op=operation, sequence=seq, customer_id=row["customer_id"])
            stamp = change.captured_at
            stamp.seconds = seconds
            stamp.nanos = millis * 1_000_000
            customer = change.before if operation == _DELETE else change.after
            customer.SetInParent()
            for name, value in zip(FIELD_NAMES, values, strict=True):
                if value is not None:
                    setattr(customer, name, value)
        except (TypeError, ValueError):
            raise UnencodableRow(_describe_mismatch(seq, values)) from None
        return change.SerializeToString()


def check_size(value: bytes, seq: int, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """`value`, unless it is over `limit` bytes: then UnencodableRow."""
    if len(value) > limit:
        raise UnencodableRow(
            f"change {seq}: encoded change is {len(value)} bytes, over the {limit}-byte limit"
        )
    return value


def sequence_of(value: bytes) -> int:
    """The `sequence` of a serialized change, read from its first bytes (what a delivery report
    carries, without a parse); a full parse for any other layout."""
    if len(value) > 3 and value[0] == _OP_TAG and value[2] == _SEQUENCE_TAG:
        seq = shift = 0
        for byte in value[3:13]:
            seq |= (byte & 0x7F) << shift
            if byte < 0x80:
                return seq
            shift += 7
    return int(CustomerChange.FromString(value).sequence)


def _describe_mismatch(seq: object, values: Sequence[object]) -> str:
    """Name the first column whose value does not fit its field."""
    for name, kind, value in zip(FIELD_NAMES, _FIELD_TYPES, values, strict=True):
        if value is not None and type(value) is not kind:
            return (
                f"change {seq}: column for {name} holds {type(value).__name__} "
                f"{_preview(value)}, expected {kind.__name__}"
            )
    return f"change {seq}: values do not fit the CustomerChange schema"


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
