"""Object bodies and their metadata.

The body is the records' value bytes exactly as received, length-delimited (shared.framing), then
gzip-compressed with a fixed mtime: the same records always give byte-identical objects.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from consumer.batcher import Record
from shared.changes import MESSAGE_TYPE
from shared.framing import compress, frame

CONTENT_TYPE: Final = "application/x-protobuf"


@dataclass(frozen=True)
class Encoding:
    compression: str
    gzip_level: int = 6

    @property
    def extension(self) -> str:
        return "binpb.gz" if self.compression == "gzip" else "binpb"

    @property
    def content_type(self) -> str:
        return "application/gzip" if self.compression == "gzip" else CONTENT_TYPE


def encode(records: Sequence[Record], encoding: Encoding) -> bytes:
    body = frame(record.value for record in records)
    return compress(body, encoding.gzip_level) if encoding.compression == "gzip" else body


def metadata(records: Sequence[Record]) -> dict[str, str]:
    """S3 user metadata describing an object's records (offsets are inclusive)."""
    return {
        "record-count": str(len(records)),
        "first-offset": str(records[0].offset),
        "last-offset": str(records[-1].offset),
        "message-type": MESSAGE_TYPE,
    }
