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
_INTEGER_FIELDS: Final = frozenset({"customer_id", "support_rep_id"})
_FIELD_TYPES: Final = tuple(int if name in _INTEGER_FIELDS else str for name in FIELD_NAMES)


class UnencodableRow(ValueError):
    """A change row whose values do not fit the schema (SQLite's loose typing allows it)."""


class ChangeEncoder:
    """Encodes change rows, reusing one message object between calls (not thread-safe).

    A NULL column leaves its field unset; the Customer row goes to `after` for snapshots, inserts
    and updates, and to `before` for deletes.
    """

    def __init__(self) -> None:
        self._change = CustomerChange()

    def encode(self, row: Sequence[object]) -> bytes:
        """The serialized change; raises UnencodableRow for a value of the wrong type."""
        seq, op, customer_id, captured_at_ms = row[:CUSTOMER_START]
        operation = OPERATIONS.get(op)  # type: ignore[call-overload]
        if operation is None:
            raise UnencodableRow(f"change {seq}: unknown operation {op!r}")
        change = self._change
        change.Clear()
        change.op = operation  # type: ignore[assignment]
        change.sequence = seq  # type: ignore[assignment]
        change.captured_at.FromMilliseconds(captured_at_ms)  # type: ignore[arg-type]
        change.customer_id = customer_id  # type: ignore[assignment]
        customer = change.before if operation == Operation.OPERATION_DELETE else change.after
        customer.SetInParent()
        for name, kind, value in zip(FIELD_NAMES, _FIELD_TYPES, row[CUSTOMER_START:], strict=True):
            if value is None:
                continue
            if type(value) is not kind:
                raise UnencodableRow(
                    f"change {seq}: column for {name} holds {type(value).__name__} "
                    f"{_preview(value)}, expected {kind.__name__}"
                )
            setattr(customer, name, value)
        return change.SerializeToString()


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
