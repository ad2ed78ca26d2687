"""Change rows of the capture table as serialized `CustomerChange` messages, one at a time.

The exact path: used for the rows of a read that the batch encoder (`producer.batch_encoder`)
would not vouch for, it names the column whose value does not fit its field, for the dead
letter. Both encoders give the same bytes for the same row.
"""

from collections.abc import Sequence
from typing import Final

from producer.change_log import ChangeRow
from shared.changes import COLUMNS, FIELD_NAMES, CustomerChange, Operation

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
