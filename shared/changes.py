"""The change-event schema (generated from `proto/chinook/v1/customer.proto`) and its column map."""

from typing import Final

from chinook_shared.gen.chinook.v1.customer_pb2 import Customer, CustomerChange

MESSAGE_TYPE: Final = CustomerChange.DESCRIPTOR.full_name
Operation = CustomerChange.Operation

# (SQLite column, protobuf field) in the order of the real Chinook `Customer` table.
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("CustomerId", "customer_id"),
    ("FirstName", "first_name"),
    ("LastName", "last_name"),
    ("Company", "company"),
    ("Address", "address"),
    ("City", "city"),
    ("State", "state"),
    ("Country", "country"),
    ("PostalCode", "postal_code"),
    ("Phone", "phone"),
    ("Fax", "fax"),
    ("Email", "email"),
    ("SupportRepId", "support_rep_id"),
)
COLUMN_NAMES: Final = tuple(column for column, _ in COLUMNS)
FIELD_NAMES: Final = tuple(field for _, field in COLUMNS)
_REQUIRED: Final = frozenset({"customer_id", "first_name", "last_name", "email"})


def customer_to_row(customer: Customer) -> tuple[object, ...]:
    """The message as a `Customer` row tuple (None for an unset optional field)."""
    return tuple(
        getattr(customer, field) if field in _REQUIRED or customer.HasField(field) else None
        for field in FIELD_NAMES
    )


__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "FIELD_NAMES",
    "MESSAGE_TYPE",
    "Customer",
    "CustomerChange",
    "Operation",
    "customer_to_row",
]
