"""Change rows of the capture table as serialized `CustomerChange` messages (pure, no I/O)."""

from collections.abc import Sequence
from typing import Final

from shared.changes import FIELD_NAMES, CustomerChange, Operation

# Column order of a change row as `change_log.CHANGE_COLUMNS` selects it: seq, op, customer_id,
# captured_at_ms, then the 13 `Customer` columns in `shared.changes.COLUMNS` order.
CUSTOMER_START: Final = 4

OPERATIONS: Final[dict[str, int]] = {
    "snapshot": Operation.OPERATION_SNAPSHOT,
    "insert": Operation.OPERATION_INSERT,
    "update": Operation.OPERATION_UPDATE,
    "delete": Operation.OPERATION_DELETE,
}
_DELETE: Final = Operation.OPERATION_DELETE
_INTEGER_FIELDS: Final = frozenset({"customer_id", "support_rep_id"})
_FIELD_TYPES: Final = tuple(int if name in _INTEGER_FIELDS else str for name in FIELD_NAMES)


class UnencodableRow(ValueError):
    """A change row whose values do not fit the schema (SQLite's loose typing allows it)."""


class ChangeEncoder:
    """Encodes change rows.

    A NULL column leaves its field unset; the Customer row goes to `after` for snapshots, inserts
    and updates, and to `before` for deletes. Every row gets fresh message objects: a reused
    upb message keeps growing its arena, so reuse costs memory in proportion to the backlog.
    """

    def encode(self, row: Sequence[object]) -> bytes:
        """The serialized change; raises UnencodableRow for a value of the wrong type.

        Fields are assigned one by one on a fresh message: for upb this is about twice as fast
        as keyword construction, and it is the per-row cost that bounds the producer.
        """
        seq, op, customer_id, captured_at_ms = row[:CUSTOMER_START]
        operation = OPERATIONS.get(op)  # type: ignore[call-overload]
        if operation is None:
            raise UnencodableRow(f"change {seq}: unknown operation {op!r}")
        values = row[CUSTOMER_START:]
        try:
            seconds, millis = divmod(int(captured_at_ms), 1000)  # type: ignore[call-overload]
            change = CustomerChange(op=operation, sequence=seq, customer_id=customer_id)
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
