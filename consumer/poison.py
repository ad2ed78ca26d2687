"""Records the consumer cannot store: how they are recognised and what happens to them."""

import logging
from typing import Final

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message
from google.protobuf.message import DecodeError

from chinook_consumer import metrics
from chinook_consumer.dead_letters import DeadLetter
from chinook_shared.changes import CustomerChange, Operation

log = logging.getLogger(__name__)
UNSPECIFIED: Final = Operation.OPERATION_UNSPECIFIED  # looked up once: enum lookups are slow


def parse_change(value: bytes) -> tuple[CustomerChange | None, str | None]:
    """(change, None) for a usable record, (None, why) for a poison one.

    Usable means: a valid CustomerChange with an operation and a customer id.
    """
    try:
        change = CustomerChange.FromString(value)
    except DecodeError as error:
        return None, f"not a CustomerChange: {error}"
    if change.op == UNSPECIFIED:
        return None, "operation is unspecified"
    if not change.customer_id:
        return None, "no customer_id"
    return change, None


def reject(message: Message, reason: str) -> DeadLetter:
    """Set a poison record aside: counted, logged, and returned as the dead letter to write with
    its batch (its offset is committed with that batch, so the partition keeps flowing)."""
    metrics.DECODE_ERRORS.inc()
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    log.warning("dead-lettering record %s[%d]@%d: %s", topic, partition, offset, reason)
    kind, timestamp = message.timestamp()
    return DeadLetter(
        topic,
        partition,
        offset,
        message.key(),
        message.value() or b"",
        None if kind == TIMESTAMP_NOT_AVAILABLE else timestamp,
        reason,
        tuple(message.headers() or ()),
    )
