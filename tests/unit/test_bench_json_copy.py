"""The bench's JSON copy for its peers: each change as Kafka Connect JSON with a schema that
describes its payload exactly (what `JsonConverter` with schemas needs to read it)."""

import json
from typing import Any

from chinook_pipeline.bench.peers.json_copy import TIMESTAMP, JsonEncoder, connect_schema
from chinook_shared.changes import Customer, CustomerChange, Operation

_PYTHON_TYPES = {"int64": int, "string": str}


def _conforms(schema: dict[str, Any], value: Any) -> None:
    """`value` is what `schema` (a Connect schema) describes, recursively."""
    if value is None:
        assert schema["optional"], schema
        return
    if schema["type"] == "struct":
        assert set(value) == {field["field"] for field in schema["fields"]}
        for field in schema["fields"]:
            _conforms(field, value[field["field"]])
    else:
        assert isinstance(value, _PYTHON_TYPES[schema["type"]]), (schema, value)


def test_an_update_and_a_delete_are_connect_json_their_schema_describes() -> None:
    after = Customer(customer_id=7, first_name="Ana", last_name="Lima", email="a@x", city="Rio")
    update = CustomerChange(
        op=Operation.OPERATION_UPDATE, sequence=41, customer_id=7, after=after, before=after
    )
    update.captured_at.FromMilliseconds(1_700_000_000_123)
    delete = CustomerChange(op=Operation.OPERATION_DELETE, sequence=42, customer_id=7, before=after)
    encoder = JsonEncoder()

    messages = [json.loads(encoder.encode(c.SerializeToString())) for c in (update, delete)]

    for message in messages:
        assert message["schema"] == connect_schema()
        _conforms(message["schema"], message["payload"])
    first, second = (message["payload"] for message in messages)
    assert first["op"] == "OPERATION_UPDATE" and first["sequence"] == 41
    assert first["captured_at"] == 1_700_000_000_123
    assert first["after"]["city"] == "Rio" and first["after"]["company"] is None  # unset optional
    assert second["after"] is None and second["before"]["first_name"] == "Ana"


def test_the_schema_names_every_customer_field_and_a_connect_timestamp() -> None:
    fields = {field["field"]: field for field in connect_schema()["fields"]}
    assert fields["captured_at"]["name"] == TIMESTAMP
    customer = [field["field"] for field in fields["after"]["fields"]]
    assert customer == [field.name for field in Customer.DESCRIPTOR.fields]
    optional = {field["field"] for field in fields["after"]["fields"] if field["optional"]}
    assert "company" in optional and "email" not in optional
