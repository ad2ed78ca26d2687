"""Records the consumer cannot store: how they are recognised and what happens to them."""

import logging

from google.protobuf.message import DecodeError

from consumer import metrics
from shared.changes import CustomerChange, Operation

log = logging.getLogger(__name__)


def parse_change(value: bytes) -> tuple[CustomerChange | None, str | None]:
    """(change, None) for a usable record, (None, why) for a poison one.

    Usable means: a valid CustomerChange with an operation and a customer id.
    """
    try:
        change = CustomerChange.FromString(value)
    except DecodeError as error:
        return None, f"not a CustomerChange: {error}"
    if change.op == Operation.OPERATION_UNSPECIFIED:
        return None, "operation is unspecified"
    if not change.customer_id:
        return None, "no customer_id"
    return change, None


def reject(topic: str, partition: int, offset: int, reason: str) -> None:
    """Set a poison record aside: for now logged and counted, not written.

    Its offset is still committed with its batch, so the partition keeps flowing.
    """
    metrics.DECODE_ERRORS.inc()
    log.warning("skipping record %s[%d]@%d: %s", topic, partition, offset, reason)
