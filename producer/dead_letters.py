"""Change rows that cannot be published, as dead letters for the dead-letter topic (pure, no I/O).

A row is dead-lettered when the encoder rejects it (SQLite's loose typing lets a column hold a
blob or text that is not UTF-8) or when its message would exceed the size limit (a 10 MB string
must not block capture). The dead letter goes to `<topic>.dlq`; its sequence is acknowledged, and
the source position advances past it, only when the broker acknowledges the dead letter, through
the same tracker as every other change.

Exactly-once holds for the source position, at-least-once for the dead letter itself: a crash
after the broker acknowledged it but before the checkpoint was saved writes it again on restart.
Every copy has the same Kafka key `<source>/<sequence>` (and headers `chinook-source`,
`chinook-dlq-sequence`), so readers of the dead-letter topic deduplicate by key.
"""

import base64
import json
import math
from dataclasses import dataclass
from typing import Final

from chinook_producer.change_log import ChangeRow
from chinook_shared.changes import COLUMN_NAMES
from chinook_shared.names import (
    DLQ_ERROR_HEADER,
    DLQ_SEQUENCE_HEADER,
    DLQ_STAGE_HEADER,
    SOURCE_HEADER,
)

DEAD_LETTER_PARTITIONS: Final = 1  # used when the dead-letter topic has to be created
VALUE_LIMIT: Final = 16 * 1024  # a longer column value is cut in the dead letter (13 fit in 1 MiB)
ERROR_LIMIT: Final = 1000  # characters of the reason kept in the error header
STAGE: Final = "produce"


@dataclass(frozen=True)
class DeadLetter:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp_ms: int | None


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def dead_letter(row: ChangeRow, reason: str, source_id: str) -> DeadLetter:
    """The dead letter for a change row: the row as JSON, the reason and the sequence in headers."""
    seq = row["seq"]
    timestamp = row["captured_at_ms"] if type(row["captured_at_ms"]) is int else None
    return DeadLetter(
        f"{source_id}/{seq}".encode(),
        row_document(row),
        [
            (DLQ_STAGE_HEADER, STAGE.encode()),
            (DLQ_ERROR_HEADER, reason[:ERROR_LIMIT].encode()),
            (DLQ_SEQUENCE_HEADER, str(seq).encode()),
            (SOURCE_HEADER, source_id.encode()),
        ],
        timestamp,
    )


def row_document(row: ChangeRow) -> bytes:
    """The change row as JSON, columns by name.

    Bytes become {"base64": ...}; a value longer than VALUE_LIMIT becomes {"truncated": true,
    "length": n, "prefix": <its first VALUE_LIMIT characters or bytes, as above>}, so the
    document stays small whatever the row holds.
    """
    document = {
        "sequence": _json_value(row["seq"]),
        "op": _json_value(row["op"]),
        "customer_id": _json_value(row["customer_id"]),
        "captured_at_ms": _json_value(row["captured_at_ms"]),
        "columns": {name: _json_value(row[name]) for name in COLUMN_NAMES},
    }
    return json.dumps(document).encode()


def _json_value(value: object) -> object:
    if isinstance(value, str | bytes) and len(value) > VALUE_LIMIT:
        return {"truncated": True, "length": len(value), "prefix": _json_value(value[:VALUE_LIMIT])}
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, int | float | str):
        return value
    return repr(value)
