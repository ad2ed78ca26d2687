"""A JSON copy of a changes topic, for the peers: Maven Central serves no Protobuf converter for
Kafka Connect, so they read the same changes as Kafka Connect JSON (`JsonConverter` with schemas).

`python -m chinook_pipeline.bench.peers.json_copy PROPERTIES_JSON SOURCE TARGET follow|backlog`
reads every partition of SOURCE from its start (by assignment, no group) and produces each change,
decoded from Protobuf, to the same partition of TARGET with the same key and timestamp. `backlog`
(for a topic no longer written) exits 0 once every partition is copied to its end, printing
`{"messages": N}`; `follow` keeps copying as changes arrive until SIGTERM (the freshness figures'
live copy).

A change becomes a struct of its event fields (`op` as the operation's name, `captured_at` as a
Connect `Timestamp`) and its `after` / `before` customer rows as optional structs.
"""

import json
import signal
import sys
import threading
from typing import Any, Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from chinook_shared.changes import Customer, CustomerChange

_TYPES: Final = {
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_STRING: "string",
}
TIMESTAMP: Final = "org.apache.kafka.connect.data.Timestamp"


def _fields(descriptor: Descriptor) -> list[dict[str, Any]]:
    return [
        {"field": field.name, "type": _TYPES[field.type], "optional": field.has_presence}
        for field in descriptor.fields
    ]


def connect_schema() -> dict[str, Any]:
    """The Connect schema of a change (the `schema` half of every JSON message)."""
    customer = {
        "type": "struct",
        "name": "chinook.v1.Customer",
        "fields": _fields(Customer.DESCRIPTOR),
    }
    return {
        "type": "struct",
        "name": "chinook.v1.CustomerChange",
        "optional": False,
        "fields": [
            {"field": "op", "type": "string", "optional": False},
            {"field": "sequence", "type": "int64", "optional": False},
            {
                "field": "captured_at",
                "type": "int64",
                "name": TIMESTAMP,
                "version": 1,
                "optional": False,
            },
            {"field": "customer_id", "type": "int64", "optional": False},
            {"field": "after", **customer, "optional": True},
            {"field": "before", **customer, "optional": True},
        ],
    }


def _row(customer: Customer) -> dict[str, Any]:
    return {
        field.name: getattr(customer, field.name)
        if not field.has_presence or customer.HasField(field.name)
        else None
        for field in Customer.DESCRIPTOR.fields
    }


class JsonEncoder:
    """Protobuf change bytes -> a Kafka Connect JSON message with its schema."""

    def __init__(self) -> None:
        self._prefix = '{"schema":' + json.dumps(connect_schema(), separators=(",", ":"))

    def encode(self, value: bytes) -> bytes:
        change = CustomerChange.FromString(value)
        payload = {
            "op": CustomerChange.Operation.Name(change.op),
            "sequence": change.sequence,
            "captured_at": change.captured_at.ToMilliseconds(),
            "customer_id": change.customer_id,
            "after": _row(change.after) if change.HasField("after") else None,
            "before": _row(change.before) if change.HasField("before") else None,
        }
        return f'{self._prefix},"payload":{json.dumps(payload, separators=(",", ":"))}}}'.encode()


def copy(
    properties: dict[str, Any], source: str, target: str, follow: threading.Event | None
) -> int:
    """Copy SOURCE to TARGET as JSON: to the partitions' ends, or while `follow` is unset; the
    number of changes copied. RuntimeError on a consume or delivery error."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

    consumer = Consumer(
        {
            **properties,
            "group.id": "json-copy",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    producer = Producer({**properties, "linger.ms": 5, "enable.idempotence": True})
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    partitions = list(consumer.list_topics(source, timeout=30).topics[source].partitions)
    consumer.assign([TopicPartition(source, p, OFFSET_BEGINNING) for p in partitions])
    ended: set[int] = set()  # backlog: a partition is copied at its first end (as in `limits`)

    def more() -> bool:
        return not follow.is_set() if follow is not None else len(ended) < len(partitions)

    encoder, copied = JsonEncoder(), 0
    try:
        while more():
            for message in consumer.consume(1000, 0.05):
                error, partition = message.error(), message.partition()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"consume of {source}: {error.str()}")
                    ended.add(partition)
                    continue
                producer.produce(
                    target,
                    encoder.encode(message.value()),
                    message.key(),
                    partition=partition,
                    timestamp=message.timestamp()[1],
                    on_delivery=delivered,
                )
                copied += 1
            producer.poll(0)
            if failures:
                raise RuntimeError(f"produce to {target}: {failures[0]}")
    finally:
        consumer.close()
    if producer.flush(60) or failures:
        raise RuntimeError(
            f"produce to {target}: {failures[0] if failures else 'not all delivered'}"
        )
    return copied


if __name__ == "__main__":
    properties_json, source_topic, target_topic, mode = sys.argv[1:]
    stop = threading.Event() if mode == "follow" else None
    if stop is not None:
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    print(
        json.dumps(
            {"messages": copy(json.loads(properties_json), source_topic, target_topic, stop)}
        )
    )
