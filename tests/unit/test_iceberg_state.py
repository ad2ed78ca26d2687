"""The state table's reduction: the latest event per customer wins only when newer than the row."""

import pyarrow as pa

from chinook_consumer.tables.state import latest_events, state_rows, state_schema, winners
from chinook_shared.arrow import change_schema
from chinook_shared.changes import Operation
from tests.table_batches import batch, change


def events(*values: bytes) -> pa.Table:
    return pa.Table.from_batches([batch(0, 0, list(values))[0]])


def sequences(table: pa.Table) -> list[int]:
    return sorted(table["sequence"].to_pylist())


def test_the_highest_sequence_of_each_customer_is_its_latest_event() -> None:
    latest = latest_events(events(change(3, 1), change(7, 1), change(5, 2), change(7, 1)))
    assert sequences(latest) == [5, 7]


def test_an_event_wins_only_over_an_older_row_or_no_row() -> None:
    latest = latest_events(events(change(10, 1), change(11, 2), change(12, 3)))
    existing = pa.table({"customer_id": [1, 2], "sequence": [9, 20]})
    assert sequences(winners(latest, existing)) == [10, 12]


def test_state_rows_are_the_after_row_plus_the_event_fields_and_deletes_have_none() -> None:
    rows = state_rows(events(change(4, 1, city="Bergen"), change(5, 2, Operation.OPERATION_DELETE)))
    assert rows.schema == state_schema()
    assert rows.to_pylist()[0] | {"captured_at": None} == {
        **{name: None for name in state_schema().names},
        "customer_id": 1,
        "first_name": "A",
        "last_name": "B",
        "email": "e",
        "city": "Bergen",
        "sequence": 4,
        "op": "OPERATION_UPDATE",
    }
    assert state_rows(events(change(5, 2, Operation.OPERATION_DELETE))).num_rows == 0


def test_the_state_schema_follows_the_descriptor() -> None:
    customer = [field.name for field in change_schema().field("after").type]
    assert state_schema().names == [*customer, "sequence", "op", "captured_at"]
