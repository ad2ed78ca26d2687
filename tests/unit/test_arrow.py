"""Change events as Arrow: the schema follows the descriptor; rows keep their Kafka coordinates."""

import pyarrow as pa
import pytest

from chinook_shared.arrow import batch_to_changes, change_schema, changes_to_batch
from chinook_shared.changes import Customer, CustomerChange, Operation


def change(sequence: int, op: int = Operation.OPERATION_INSERT) -> bytes:
    message = CustomerChange(op=op, sequence=sequence, customer_id=sequence)
    message.captured_at.FromMilliseconds(1_700_000_000_000 + sequence)
    if op != Operation.OPERATION_DELETE:
        message.after.CopyFrom(
            Customer(customer_id=sequence, first_name="A", last_name="B", email="e", city="Oslo")
        )
    return message.SerializeToString()


def test_schema_comes_from_the_descriptor() -> None:
    schema = change_schema()
    fields = CustomerChange.DESCRIPTOR.fields_by_name
    assert schema.names == [*fields, "kafka_partition", "kafka_offset", "kafka_timestamp"]
    assert schema.field("op").type == pa.string()
    assert schema.field("captured_at").type == pa.timestamp("us", tz="UTC")
    after = schema.field("after").type
    assert after.field("company").nullable and not after.field("first_name").nullable


def test_round_trip_keeps_every_message_and_the_coordinates() -> None:
    values = [change(1), change(2, Operation.OPERATION_DELETE)]
    batch = changes_to_batch(values, 3, [10, 11], [1_700_000_000_000, 1_700_000_000_500])
    rows = batch.to_pylist()
    assert [row["op"] for row in rows] == ["OPERATION_INSERT", "OPERATION_DELETE"]
    assert rows[0]["after"]["city"] == "Oslo" and rows[1]["after"] is None
    assert [(row["kafka_partition"], row["kafka_offset"]) for row in rows] == [(3, 10), (3, 11)]
    assert batch_to_changes(batch) == values


def test_garbage_does_not_convert() -> None:
    with pytest.raises(ValueError):
        changes_to_batch([b"\xff\xff not protobuf"], 0, [0], [0])
