"""Object bodies and their metadata.

The body is the records' value bytes exactly as received, length-delimited (shared.framing), then
gzip-compressed with a fixed mtime: the same records always give byte-identical objects.
"""

from dataclasses import dataclass
from typing import Final

from consumer.batcher import TimeGroup
from shared.changes import MESSAGE_TYPE
from shared.framing import compress

CONTENT_TYPE: Final = "application/x-protobuf"
GZIP_LEVEL: Final = 1  # ~2.7x the speed of level 6 on these records, for ~15% larger objects


@dataclass(frozen=True)
class Encoding:
    compression: str
    gzip_level: int = GZIP_LEVEL

    @property
    def extension(self) -> str:
        return "binpb.gz" if self.compression == "gzip" else "binpb"

    @property
    def content_type(self) -> str:
        return "application/gzip" if self.compression == "gzip" else CONTENT_TYPE


def encode(group: TimeGroup, encoding: Encoding) -> bytes:
    """The object body of `group` (safe to call from several threads at once)."""
    if encoding.compression == "gzip":
        return compress(group.body, encoding.gzip_level)
    return bytes(group.body)


def metadata(group: TimeGroup) -> dict[str, str]:
    """S3 user metadata describing an object's records (offsets are inclusive)."""
    return {
        "record-count": str(group.count),
        "first-offset": str(group.first_offset),
        "last-offset": str(group.last_offset),
        "message-type": MESSAGE_TYPE,
    }
